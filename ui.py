"""The docqa chat UI (Gradio 6): a thin layer over ``qa``.

``create_app(settings)`` builds the Blocks; ``main()`` serves it on 127.0.0.1
(anything else needs auth). Handlers only translate between widgets and
``qa.answer``, ``ingest.library`` and ``chat_view``. Every action is also an
API endpoint for ``gradio_client``: /ask (JSON), /chat (streaming), /documents,
/upload, /ingest, /delete.
"""

import ipaddress
import logging
import sys

log = logging.getLogger("docqa.ui")

SYSTEM_FONTS = ["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica", "Arial",
                "sans-serif"]
MONO_FONTS = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"]
HEADERS = ["Title", "File", "Chunks", "Indexed at"]

CSS = """
#docqa-sources { max-height: 640px; overflow-y: auto; }
.docqa-sources { font-size: 0.92rem; }
.docqa-src-head { font-weight: 600; margin: 0 0 .6rem 0; }
.docqa-src-head.docqa-refused { color: #9a3412; }
.docqa-card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: .6rem .75rem;
              margin-bottom: .6rem; background: var(--block-background-fill); }
.docqa-card.docqa-related { border-style: dashed; opacity: .9; }
.docqa-card.docqa-focus { border: 2px solid var(--color-accent); box-shadow: 0 0 0 3px var(--color-accent-soft); }
.docqa-card-title { font-weight: 600; }
.docqa-tag { font-size: .72rem; font-weight: 500; color: #9a3412; border: 1px solid #fdba74; border-radius: 4px;
             padding: 0 .3em; white-space: nowrap; }
.docqa-n { color: var(--color-accent); }
.docqa-file { font-family: var(--font-mono); font-size: .8rem; color: var(--body-text-color-subdued); }
.docqa-context { margin-top: .35rem; line-height: 1.45; white-space: pre-wrap; }
.docqa-context mark { background: #fde68a; color: #111; padding: 0 .1em; border-radius: 2px; }
.docqa-empty { color: var(--body-text-color-subdued); }
a.docqa-cite { font-weight: 600; color: var(--color-accent); text-decoration: none; cursor: pointer; }
.docqa-meta { font-size: .78rem; color: var(--body-text-color-subdued); }
"""

# Clicking an [n] link in an answer sends "turn:n" to the server, which re-renders the sources panel.
JS = """
() => {
  document.addEventListener('click', (e) => {
    const a = e.target.closest && e.target.closest('a[href^="#docqa-cite-"]');
    if (!a) return;
    e.preventDefault(); e.stopPropagation();
    const [turn, n] = a.getAttribute('href').slice('#docqa-cite-'.length).split('-');
    const box = document.querySelector('#docqa-cite-sel textarea, #docqa-cite-sel input');
    if (!box) return;
    box.value = turn + ':' + n + ':' + Date.now();
    box.dispatchEvent(new Event('input', {bubbles: true}));
    setTimeout(() => document.querySelector('#docqa-cite-go').click(), 0);
  }, true);
}
"""


def _error_text(e: Exception) -> str:
    """The one line a user sees for an exception: a DocqaError's own message, never a traceback."""
    from core.errors import DocqaError

    if isinstance(e, DocqaError):
        return str(e)
    log.exception("unexpected error")
    return f"something went wrong ({e.__class__.__name__}); the server log has the details"


def _error_line(e: Exception) -> str:
    return "⚠️ " + _error_text(e)


class Handlers:
    """The UI's event handlers: each translates widgets to ``qa.answer`` / ``Library`` calls and back."""

    def __init__(self, settings, lib):
        self.settings, self.lib = settings, lib

    def ask(self, question: str, history: list | None = None, mode: str = "", k: int = 0) -> dict:
        """Answer one question; ``history`` is a list of {"role", "content"}. Returns the answer as JSON."""
        import gradio as gr

        from core.errors import DocqaError
        from qa.answer import answer

        try:
            ans = answer(question, history=history or None, settings=self.settings, mode=mode or None,
                         k=k or None, embedder=self.lib.embedder)
        except DocqaError as e:  # the message reaches API clients; a traceback never does
            raise gr.Error(str(e)) from None
        return ans.to_json()

    def respond(self, question, history, turns, mode, k):
        """Stream one chat turn: a placeholder, then the answer word by word, with its sources panel."""
        import gradio as gr

        import chat_view as view
        from qa.answer import answer

        history, turns = list(history or []), list(turns or [])
        question = (question or "").strip()
        shown = history + ([{"role": "user", "content": question}] if question else [])
        yield shown + [{"role": "assistant", "content": f"*searching the documents… (mode: {mode})*"}], \
            gr.skip(), turns, ""
        try:
            ans = answer(question, history=view.plain_history(history), settings=self.settings, mode=mode,
                         k=int(k), embedder=self.lib.embedder)
        except Exception as e:  # every failure becomes a chat message, never a traceback
            yield shown + [{"role": "assistant", "content": view.error_markdown(_error_text(e))}], \
                gr.skip(), turns, ""
            return
        rec = view.turn_record(ans, int(k))
        turns.append(rec)
        panel = view.sources_html(rec)
        for step in view.answer_steps(rec, len(turns) - 1):
            yield shown + [{"role": "assistant", "content": step}], panel, turns, ""

    def show_citation(self, sel, turns):
        """The sources panel focused on the clicked marker ("turn:n")."""
        import gradio as gr

        import chat_view as view

        try:
            turn, n = (int(x) for x in (sel or "").split(":")[:2])
            return view.sources_html(turns[turn], focus=n)
        except (ValueError, IndexError, TypeError):
            return gr.skip()

    def doc_outputs(self, line: str):
        """(result line, document rows, document picker) after an index change."""
        import gradio as gr

        from core.errors import DocqaError

        try:
            rows = self.lib.documents()
        except DocqaError as e:  # e.g. the Chroma server is down: say so instead of an empty table
            rows, line = [], (line + " | " if line else "") + _error_line(e)
        return line, rows, gr.Dropdown(choices=[r[1] for r in rows], value=None)

    def documents(self) -> list[list]:
        """The indexed documents: rows of [title, file, chunks, indexed at]."""
        return self.lib.documents()

    def _index_op(self, op, *args):
        try:
            return self.doc_outputs(op(*args))
        except Exception as e:
            return self.doc_outputs(_error_line(e))

    def reindex(self):
        return self._index_op(self.lib.reindex)

    def upload(self, files):
        import gradio as gr

        try:
            return (*self.doc_outputs(self.lib.add_files(files or [])), None)
        except Exception as e:
            return (*self.doc_outputs(_error_line(e)), gr.skip())

    def delete(self, source):
        return self._index_op(self.lib.delete, source)


def _chat_tab(gr, settings, examples):
    """The chat column, its controls and the sources panel; returns the components by name."""
    import chat_view as view

    c = {}
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            c["chat"] = gr.Chatbot(
                elem_id="docqa-chat", label="Chat", height=560, latex_delimiters=[],
                buttons=["copy"], feedback_options=None,
                examples=[{"text": q} for q in examples] or None,
                placeholder=("Ask a question about the documents." if examples else
                             "No documents indexed yet: add some in the **Documents** tab."))
            with gr.Row():
                c["question"] = gr.Textbox(elem_id="docqa-question", show_label=False, scale=5,
                                           placeholder="Ask a question and press Enter", lines=1,
                                           max_lines=4, autofocus=True)
                c["send"] = gr.Button("Ask", variant="primary", scale=1, elem_id="docqa-send")
            with gr.Row():
                c["mode"] = gr.Radio(["extractive", "llm"], value=settings.mode, label="Mode",
                                     info="extractive quotes the documents; llm rewrites them "
                                          "(needs an LLM server)", elem_id="docqa-mode")
                c["top_k"] = gr.Slider(1, 20, value=settings.top_k, step=1, label="Passages (top-k)",
                                       elem_id="docqa-topk")
                c["clear"] = gr.Button("New chat", scale=0)
        with gr.Column(scale=2):
            c["sources"] = gr.HTML(view.EMPTY_SOURCES, elem_id="docqa-sources", label="Sources")
    c["cite_sel"] = gr.Textbox(visible="hidden", elem_id="docqa-cite-sel")
    c["cite_go"] = gr.Button(visible="hidden", elem_id="docqa-cite-go")
    return c


def _documents_tab(gr, settings):
    """The document library: table, upload, re-index and delete; returns the components by name."""
    from ingest.load import SUPPORTED

    c = {}
    c["table"] = gr.Dataframe(headers=HEADERS, interactive=False, wrap=True, elem_id="docqa-docs",
                              label="Indexed documents")
    with gr.Row():
        c["files"] = gr.File(file_count="multiple", file_types=list(SUPPORTED), elem_id="docqa-upload",
                             label=f"Add files ({', '.join(SUPPORTED)}; up to {settings.max_upload_mb} MB)")
        with gr.Column():
            c["add"] = gr.Button("Upload and index", variant="primary", elem_id="docqa-add")
            c["reindex"] = gr.Button("Re-index the corpus folder", elem_id="docqa-reindex")
            c["pick"] = gr.Dropdown(choices=[], value=None, label="Document", allow_custom_value=True,
                                    elem_id="docqa-doc-pick")
            c["delete"] = gr.Button("Delete document", variant="stop", elem_id="docqa-delete")
    c["result"] = gr.Textbox(label="Result", interactive=False, elem_id="docqa-result")
    return c


def _wire(gr, h: Handlers, chat: dict, docs: dict, turns) -> None:
    """Events and API endpoints."""
    import chat_view as view

    chat_io = dict(inputs=[chat["question"], chat["chat"], turns, chat["mode"], chat["top_k"]],
                   outputs=[chat["chat"], chat["sources"], turns, chat["question"]],
                   show_progress="minimal", concurrency_limit=4)
    chat["question"].submit(h.respond, api_name="chat", **chat_io)
    chat["send"].click(h.respond, api_visibility="private", **chat_io)

    def pick_example(evt: gr.SelectData):
        return evt.value["text"] if isinstance(evt.value, dict) else str(evt.value)

    chat["chat"].example_select(pick_example, None, chat["question"], api_visibility="private").then(
        h.respond, api_visibility="private", **chat_io)
    chat["clear"].click(lambda: ([], [], view.EMPTY_SOURCES), None, [chat["chat"], turns, chat["sources"]],
                        api_visibility="private")
    chat["cite_go"].click(h.show_citation, [chat["cite_sel"], turns], chat["sources"], api_visibility="private",
                          show_progress="hidden")
    # gr.Progress as a default argument is how Gradio shows ingest's tqdm bar in the page.
    def upload(files, progress=gr.Progress(track_tqdm=True)):
        return h.upload(files)

    def reindex(progress=gr.Progress(track_tqdm=True)):
        return h.reindex()

    doc_out = [docs["result"], docs["table"], docs["pick"]]
    docs["add"].click(upload, docs["files"], doc_out + [docs["files"]], api_name="upload",
                      concurrency_id="index")
    docs["reindex"].click(reindex, None, doc_out, api_name="ingest", concurrency_id="index")
    docs["delete"].click(h.delete, docs["pick"], doc_out, api_name="delete", concurrency_id="index")
    gr.api(h.ask, api_name="ask")
    gr.api(h.documents, api_name="documents")


def create_app(settings=None, embedder=None):
    """The chat UI as a ``gr.Blocks`` (not launched). ``embedder`` lets tests share a loaded model."""
    from core.offline import enforce_offline

    enforce_offline()
    import gradio as gr

    from core.errors import DocqaError
    from core.settings import load_settings
    from ingest.library import Library

    settings = settings or load_settings()
    lib = Library(settings, embedder=embedder)
    try:
        examples = lib.example_questions()
    except DocqaError:
        examples = []
    h = Handlers(settings, lib)
    with gr.Blocks(title="docqa", analytics_enabled=False) as app:
        gr.Markdown("## docqa · ask your documents\nEvery answer sentence cites the passage it comes from; "
                    "click a **[n]** marker to see it highlighted.")
        turns = gr.State([])
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                chat = _chat_tab(gr, settings, examples)
            with gr.Tab("Documents", id="documents"):
                docs = _documents_tab(gr, settings)
        _wire(gr, h, chat, docs, turns)
        app.load(lambda: h.doc_outputs(""), None, [docs["result"], docs["table"], docs["pick"]],
                 api_visibility="private")
    return app


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _parse_auth(auth: str) -> tuple[str, str]:
    from core.errors import ConfigError

    user, sep, password = (auth or "").partition(":")
    if not sep or not user or not password:
        raise ConfigError("auth must look like user:pass (both parts non-empty)")
    return user, password


def launch(app, settings, host=None, port=None, auth=None, block=True):
    """Serve ``app``; binding anything but loopback requires auth (ConfigError otherwise)."""
    from core.errors import ConfigError

    host = host or settings.host
    port = port or settings.port
    auth = auth or settings.auth or None
    if not _is_loopback(host) and not auth:
        raise ConfigError(f"refusing to serve on {host} without a login: anyone on the network could read "
                          "your documents; pass --auth user:pass (or set auth in docqa.toml), or use 127.0.0.1")
    creds = _parse_auth(auth) if auth else None
    import gradio as gr

    theme = gr.themes.Default(font=SYSTEM_FONTS, font_mono=MONO_FONTS)  # no web fonts: works offline
    where = f"http://{host}:{port}/"
    print(f"docqa UI on {where}" + (" (login required)" if creds else "") + "; Ctrl+C stops it", file=sys.stderr)
    return app.launch(server_name=host, server_port=port, auth=creds, share=False, inbrowser=False,
                      prevent_thread_lock=not block, ssr_mode=False, pwa=False, mcp_server=False,
                      enable_monitoring=False, max_file_size=f"{settings.max_upload_mb}mb", quiet=not block,
                      theme=theme, css=CSS, js=JS, footer_links=["api"])


def main(settings=None, host=None, port=None, auth=None) -> int:
    """`docqa serve`: build the UI and serve it until interrupted."""
    from core.settings import load_settings

    settings = settings or load_settings()
    host = host or settings.host
    if not _is_loopback(host) and not (auth or settings.auth):  # fail before loading anything heavy
        launch(None, settings, host=host, port=port, auth=auth)
    app = create_app(settings)
    launch(app, settings, host=host, port=port, auth=auth)
    return 0
