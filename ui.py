"""The docqa chat UI (Gradio 6): a thin layer over ``qa``.

``create_app(settings)`` builds the Blocks; ``main()`` serves it on 127.0.0.1
(anything else needs auth). Handlers only translate between widgets and
``qa.answer``, ``qa.library`` and ``qa.chat_view``. Every action is also an
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
    from ingest.errors import DocqaError

    if isinstance(e, DocqaError):
        return str(e)
    log.exception("unexpected error")
    return f"something went wrong ({e.__class__.__name__}); the server log has the details"


def _error_line(e: Exception) -> str:
    return "⚠️ " + _error_text(e)


def create_app(settings=None, embedder=None):
    """The chat UI as a ``gr.Blocks`` (not launched). ``embedder`` lets tests share a loaded model."""
    from ingest.offline import enforce_offline

    enforce_offline()
    import gradio as gr

    from ingest.errors import DocqaError
    from ingest.load import SUPPORTED
    from ingest.settings import load_settings
    from qa import chat_view as view
    from qa.library import Library

    settings = settings or load_settings()
    lib = Library(settings, embedder=embedder)
    try:
        examples = lib.example_questions()
    except DocqaError:
        examples = []

    def ask(question: str, history: list | None = None, mode: str = "", k: int = 0) -> dict:
        """Answer one question; ``history`` is a list of {"role", "content"}. Returns the answer as JSON."""
        from qa.answer import answer

        try:
            ans = answer(question, history=history or None, settings=settings, mode=mode or None, k=k or None,
                         embedder=lib.embedder)
        except DocqaError as e:  # the message reaches API clients; a traceback never does
            raise gr.Error(str(e)) from None
        return ans.to_json()

    def respond(question, history, turns, mode, k):
        from qa.answer import answer

        history, turns = list(history or []), list(turns or [])
        question = (question or "").strip()
        shown = history + ([{"role": "user", "content": question}] if question else [])
        yield shown + [{"role": "assistant", "content": f"*searching the documents… (mode: {mode})*"}], \
            gr.skip(), turns, ""
        try:
            ans = answer(question, history=view.plain_history(history), settings=settings, mode=mode,
                         k=int(k), embedder=lib.embedder)
        except Exception as e:  # every failure becomes a chat message, never a traceback
            yield shown + [{"role": "assistant", "content": view.error_markdown(_error_text(e))}], \
                gr.skip(), turns, ""
            return
        rec = view.turn_record(ans, int(k))
        turns.append(rec)
        panel = view.sources_html(rec)
        for step in view.answer_steps(rec, len(turns) - 1):
            yield shown + [{"role": "assistant", "content": step}], panel, turns, ""

    def show_citation(sel, turns):
        try:
            turn, n = (int(x) for x in (sel or "").split(":")[:2])
            return view.sources_html(turns[turn], focus=n)
        except (ValueError, IndexError, TypeError):
            return gr.skip()

    def doc_outputs(line: str):
        try:
            rows = lib.documents()
        except DocqaError as e:  # e.g. the Chroma server is down: say so instead of an empty table
            rows, line = [], (line + " | " if line else "") + _error_line(e)
        return line, rows, gr.Dropdown(choices=[r[1] for r in rows], value=None)

    def documents() -> list[list]:
        """The indexed documents: rows of [title, file, chunks, indexed at]."""
        return lib.documents()

    def reindex(progress=gr.Progress(track_tqdm=True)):
        try:
            return doc_outputs(lib.reindex())
        except Exception as e:
            return doc_outputs(_error_line(e))

    def upload(files, progress=gr.Progress(track_tqdm=True)):
        try:
            return (*doc_outputs(lib.add_files(files or [])), None)
        except Exception as e:
            return (*doc_outputs(_error_line(e)), gr.skip())

    def delete(source):
        try:
            return doc_outputs(lib.delete(source))
        except Exception as e:
            return doc_outputs(_error_line(e))

    with gr.Blocks(title="docqa", analytics_enabled=False) as app:
        gr.Markdown("## docqa · ask your documents\nEvery answer sentence cites the passage it comes from; "
                    "click a **[n]** marker to see it highlighted.")
        turns = gr.State([])
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3):
                        chat = gr.Chatbot(
                            elem_id="docqa-chat", label="Chat", height=560, latex_delimiters=[],
                            buttons=["copy"], feedback_options=None,
                            examples=[{"text": q} for q in examples] or None,
                            placeholder=("Ask a question about the documents." if examples else
                                         "No documents indexed yet: add some in the **Documents** tab."))
                        with gr.Row():
                            question = gr.Textbox(elem_id="docqa-question", show_label=False, scale=5,
                                                  placeholder="Ask a question and press Enter", lines=1,
                                                  max_lines=4, autofocus=True)
                            send = gr.Button("Ask", variant="primary", scale=1, elem_id="docqa-send")
                        with gr.Row():
                            mode = gr.Radio(["extractive", "llm"], value=settings.mode, label="Mode",
                                            info="extractive quotes the documents; llm rewrites them "
                                                 "(needs an LLM server)", elem_id="docqa-mode")
                            top_k = gr.Slider(1, 20, value=settings.top_k, step=1, label="Passages (top-k)",
                                              elem_id="docqa-topk")
                            clear = gr.Button("New chat", scale=0)
                    with gr.Column(scale=2):
                        sources = gr.HTML(view.EMPTY_SOURCES, elem_id="docqa-sources", label="Sources")
                cite_sel = gr.Textbox(visible="hidden", elem_id="docqa-cite-sel")
                cite_go = gr.Button(visible="hidden", elem_id="docqa-cite-go")
            with gr.Tab("Documents", id="documents"):
                table = gr.Dataframe(headers=HEADERS, interactive=False, wrap=True,
                                     elem_id="docqa-docs", label="Indexed documents")
                with gr.Row():
                    files = gr.File(file_count="multiple", file_types=list(SUPPORTED), elem_id="docqa-upload",
                                    label=f"Add files ({', '.join(SUPPORTED)}; up to {settings.max_upload_mb} MB)")
                    with gr.Column():
                        add = gr.Button("Upload and index", variant="primary", elem_id="docqa-add")
                        reindex_btn = gr.Button("Re-index the corpus folder", elem_id="docqa-reindex")
                        doc_pick = gr.Dropdown(choices=[], value=None, label="Document",
                                               allow_custom_value=True, elem_id="docqa-doc-pick")
                        delete_btn = gr.Button("Delete document", variant="stop", elem_id="docqa-delete")
                result = gr.Textbox(label="Result", interactive=False, elem_id="docqa-result")

        chat_io = dict(inputs=[question, chat, turns, mode, top_k], outputs=[chat, sources, turns, question],
                       show_progress="minimal", concurrency_limit=4)
        question.submit(respond, api_name="chat", **chat_io)
        send.click(respond, api_visibility="private", **chat_io)
        def pick_example(evt: gr.SelectData):
            return evt.value["text"] if isinstance(evt.value, dict) else str(evt.value)

        chat.example_select(pick_example, None, question, api_visibility="private").then(
            respond, api_visibility="private", **chat_io)
        clear.click(lambda: ([], [], view.EMPTY_SOURCES), None, [chat, turns, sources], api_visibility="private")
        cite_go.click(show_citation, [cite_sel, turns], sources, api_visibility="private", show_progress="hidden")
        doc_out = [result, table, doc_pick]
        add.click(upload, files, doc_out + [files], api_name="upload", concurrency_id="index")
        reindex_btn.click(reindex, None, doc_out, api_name="ingest", concurrency_id="index")
        delete_btn.click(delete, doc_pick, doc_out, api_name="delete", concurrency_id="index")
        gr.api(ask, api_name="ask")
        gr.api(documents, api_name="documents")
        app.load(lambda: doc_outputs(""), None, [result, table, doc_pick], api_visibility="private")
    return app


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _parse_auth(auth: str) -> tuple[str, str]:
    from ingest.errors import ConfigError

    user, sep, password = (auth or "").partition(":")
    if not sep or not user or not password:
        raise ConfigError("auth must look like user:pass (both parts non-empty)")
    return user, password


def launch(app, settings, host=None, port=None, auth=None, block=True):
    """Serve ``app``; binding anything but loopback requires auth (ConfigError otherwise)."""
    from ingest.errors import ConfigError

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
    from ingest.settings import load_settings

    settings = settings or load_settings()
    host = host or settings.host
    if not _is_loopback(host) and not (auth or settings.auth):  # fail before loading anything heavy
        launch(None, settings, host=host, port=port, auth=auth)
    app = create_app(settings)
    launch(app, settings, host=host, port=port, auth=auth)
    return 0
