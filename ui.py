"""The docqa chat UI (Gradio 6): a thin layer over ``qa``.

``create_app(settings)`` builds the Blocks; ``main()`` serves it on 127.0.0.1
(anything else needs auth). Handlers only translate between widgets and
``qa.answer``, ``ingest.library``, ``eval.feedback`` and ``chat_view``. Every
action is also an API endpoint for ``gradio_client``: /ask (JSON), /chat
(streaming), /feedback, /documents, /upload, /ingest, /delete. Saved chats live
in the browser (``gr.BrowserState``); with ``watch`` an ``ingest.watch.Watcher``
re-indexes the corpus folder and the Documents tab follows it.
"""

import ipaddress
import logging
import sys

import chat_view as view  # plain Python (html, re): cheap to import
from core.errors import ConfigError, DocqaError

log = logging.getLogger("docqa.ui")

SYSTEM_FONTS = ["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica", "Arial",
                "sans-serif"]
MONO_FONTS = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"]
HEADERS = ["Title", "File", "Chunks", "Indexed at"]
WATCH_REFRESH_SECONDS = 2.0  # how often an open page checks whether the watcher re-indexed


def _error_text(e: Exception) -> str:
    """The one line a user sees for an exception: a DocqaError's own message, never a traceback."""
    if isinstance(e, DocqaError):
        return str(e)
    log.exception("unexpected error")
    return f"something went wrong ({e.__class__.__name__}); the server log has the details"


def _error_line(e: Exception) -> str:
    return "⚠️ " + _error_text(e)


class Handlers:
    """The UI's event handlers: each translates widgets to ``qa.answer`` / ``Library`` calls and back."""

    def __init__(self, settings, lib, watcher=None):
        self.settings, self.lib, self.watcher = settings, lib, watcher

    def ask(self, question: str, history: list | None = None, mode: str = "", k: int = 0) -> dict:
        """Answer one question; ``history`` is a list of {"role", "content"}. Returns the answer as JSON."""
        import gradio as gr

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

        try:
            turn, n = (int(x) for x in (sel or "").split(":")[:2])
            return view.sources_html(turns[turn], focus=n)
        except (ValueError, IndexError, TypeError):
            return gr.skip()

    def doc_outputs(self, line: str):
        """(result line, document rows, document picker) after an index change."""
        import gradio as gr

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

    def watch_tick(self, seen: int):
        """Refresh the Documents tab when the watcher re-indexed since this page last looked."""
        import gradio as gr

        gen = self.watcher.generation if self.watcher else 0
        if gen == seen:
            return (gr.skip(),) * 4
        return (*self.doc_outputs(f"watch: {self.watcher.last}"), gen)

    # -- feedback ---------------------------------------------------------
    def feedback(self, question: str, history: list, answer: str, citations: list, mode: str, rating: str,
                 comment: str = "") -> dict:
        """Store a rating of an answer: rating "up" or "down" (or "none" to take it back), an optional
        comment; ``citations`` as /ask returns them. Returns the stored record (kept on this server only)."""
        import gradio as gr

        from eval.feedback import record_feedback

        try:
            return record_feedback(self.settings, question, history, answer, citations, mode, rating, comment)
        except DocqaError as e:
            raise gr.Error(str(e)) from None

    def rate(self, messages, turns, comment, index, liked):
        """A thumb on chat message ``index``, stored with the comment box's text (if any)."""
        what = view.rated_answer(messages, turns, index)
        if what is None:
            return "Only finished answers can be rated.", None, comment
        return self._store(what, "up" if liked is True else "down" if liked is False else "none", comment)

    def comment(self, last: dict | None, comment: str):
        """Attach the comment box's text to the last rated answer (a newer record supersedes the first)."""
        if not last or last.get("rating") not in ("up", "down"):
            return "Rate an answer with a thumb first; the comment goes with that rating.", last, comment
        return self._store({key: last.get(key) for key in view.RATED_FIELDS}, last["rating"], comment)

    def _store(self, what: dict, rating: str, comment: str):
        from eval.feedback import record_feedback

        try:
            fb = record_feedback(self.settings, rating=rating, comment=comment or "", **what)
        except Exception as e:
            return _error_line(e), None, comment
        return view.feedback_note(fb), fb, ""

    # -- saved chats ------------------------------------------------------
    @staticmethod
    def _chat_list(saved, chat_id):
        import gradio as gr

        return gr.Radio(choices=view.chat_choices(saved), value=chat_id or None)

    def save_chat(self, saved, chat_id, messages, turns):
        """Store the current chat in the browser and refresh the list."""
        saved, chat_id = view.save_chat(saved, chat_id, messages, turns)
        return saved, chat_id, self._chat_list(saved, chat_id)

    def open_chat(self, saved, chat_id):
        """Show a saved chat (None or an unknown id: a new, empty chat)."""
        return view.chat_view_of(view.find_chat(saved, chat_id))

    def delete_chat(self, saved, chat_id):
        """Forget the open chat; a new, empty chat takes its place."""
        saved = view.delete_chat(saved, chat_id)
        return (saved, *view.chat_view_of(None), self._chat_list(saved, None))

    def restore(self, saved):
        """On page load: list the saved chats and reopen the most recent one."""
        shown = self.open_chat(saved, next(iter(view.chat_choices(saved)), ("", ""))[1])
        return (*shown, self._chat_list(saved, shown[2]))


def _chat_tab(gr, settings, examples):
    """Saved chats, the chat column with its controls and feedback box, and the sources panel."""
    c = {}
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=190):
            c["clear"] = gr.Button("New chat", elem_id="docqa-new-chat", size="sm")
            c["chats"] = gr.Radio(choices=[], value=None, label="Saved chats", elem_id="docqa-chats",
                                  info="kept in this browser")
            c["forget"] = gr.Button("Delete this chat", elem_id="docqa-chat-delete", size="sm", variant="stop")
        with gr.Column(scale=3):
            c["chat"] = gr.Chatbot(
                elem_id="docqa-chat", label="Chat", height=560, latex_delimiters=[],
                buttons=["copy"], feedback_options=("Like", "Dislike"),
                examples=[{"text": q} for q in examples] or None,
                placeholder=("Ask a question about the documents." if examples else
                             "No documents indexed yet: add some in the **Documents** tab."))
            with gr.Row():
                c["question"] = gr.Textbox(elem_id="docqa-question", show_label=False, scale=5,
                                           placeholder="Ask a question and press Enter", lines=1,
                                           max_lines=4, autofocus=True)
                c["send"] = gr.Button("Ask", variant="primary", scale=1, elem_id="docqa-send")
            with gr.Row():
                c["comment"] = gr.Textbox(elem_id="docqa-fb-comment", show_label=False, scale=5, max_lines=3,
                                          placeholder="Optional comment: type it, then rate an answer with "
                                                      "the thumbs, or add it to your last rating")
                c["send_comment"] = gr.Button("Add comment", scale=1, size="sm", elem_id="docqa-fb-send")
            c["fb_note"] = gr.Markdown("", elem_id="docqa-fb-note")
            with gr.Row():
                c["mode"] = gr.Radio(["extractive", "llm"], value=settings.mode, label="Mode",
                                     info="extractive quotes the documents; llm rewrites them "
                                          "(needs an LLM server)", elem_id="docqa-mode")
                c["top_k"] = gr.Slider(1, 20, value=settings.top_k, step=1, label="Passages (top-k)",
                                       elem_id="docqa-topk")
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


def _wire(gr, h: Handlers, chat: dict, docs: dict, st: dict) -> None:
    """Events and API endpoints; ``st`` holds the session and browser states."""
    turns, private = st["turns"], dict(api_visibility="private")
    chat_io = dict(inputs=[chat["question"], chat["chat"], turns, chat["mode"], chat["top_k"]],
                   outputs=[chat["chat"], chat["sources"], turns, chat["question"]],
                   show_progress="minimal", concurrency_limit=4)
    save = dict(fn=h.save_chat, inputs=[st["saved"], st["chat_id"], chat["chat"], turns],
                outputs=[st["saved"], st["chat_id"], chat["chats"]], show_progress="hidden", **private)
    chat["question"].submit(h.respond, api_name="chat", **chat_io).then(**save)
    chat["send"].click(h.respond, **private, **chat_io).then(**save)

    def pick_example(evt: gr.SelectData):
        return evt.value["text"] if isinstance(evt.value, dict) else str(evt.value)

    chat["chat"].example_select(pick_example, None, chat["question"], **private).then(
        h.respond, **private, **chat_io).then(**save)
    shown = [chat["chat"], turns, st["chat_id"], chat["sources"]]
    chat["clear"].click(lambda: (*view.chat_view_of(None), None), None, shown + [chat["chats"]], **private)
    chat["chat"].clear(lambda: (*view.chat_view_of(None), None), None, shown + [chat["chats"]], **private)
    chat["chats"].input(h.open_chat, [st["saved"], chat["chats"]], shown, **private)
    chat["forget"].click(h.delete_chat, [st["saved"], st["chat_id"]], [st["saved"]] + shown + [chat["chats"]],
                         **private)

    def like(messages, turns_, comment, evt: gr.LikeData):
        return h.rate(messages, turns_, comment, evt.index, evt.liked)

    fb_out = [chat["fb_note"], st["last_fb"], chat["comment"]]
    chat["chat"].like(like, [chat["chat"], turns, chat["comment"]], fb_out, **private)
    chat["send_comment"].click(h.comment, [st["last_fb"], chat["comment"]], fb_out, **private)
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
    gr.api(h.feedback, api_name="feedback")
    gr.api(h.documents, api_name="documents")
    if h.watcher is not None:  # the Documents tab follows the watcher's re-indexes
        gr.Timer(WATCH_REFRESH_SECONDS).tick(h.watch_tick, st["seen"], doc_out + [st["seen"]], show_progress="hidden",
                                             **private)


def create_app(settings=None, embedder=None, watch: bool = False):
    """The chat UI as a ``gr.Blocks`` (not launched). ``embedder`` lets tests share a loaded model;
    ``watch`` starts a watcher re-indexing the corpus folder (``app.docqa_watcher``; stop it after use)."""
    from core.offline import enforce_offline

    enforce_offline()
    import gradio as gr

    from core.settings import load_settings
    from ingest.library import Library

    settings = settings or load_settings()
    lib = Library(settings, embedder=embedder)
    try:
        examples = lib.example_questions()
    except DocqaError:
        examples = []
    watcher = None
    if watch:
        from ingest.watch import Watcher

        watcher = Watcher(settings, reindex=lambda: lib.reindex(progress=False), embedder=lib.embedder).start()
    h = Handlers(settings, lib, watcher)
    with gr.Blocks(title="docqa", analytics_enabled=False) as app:
        gr.Markdown("## docqa · ask your documents\nEvery answer sentence cites the passage it comes from; "
                    "click a **[n]** marker to see it highlighted.")
        # Saved chats stay in the browser; the key is kept in index_dir so they outlive a server restart.
        st = {"turns": gr.State([]), "chat_id": gr.State(""), "last_fb": gr.State(None), "seen": gr.State(0),
              "saved": gr.BrowserState([], storage_key="docqa-chats", secret=view.browser_secret(settings))}
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                chat = _chat_tab(gr, settings, examples)
            with gr.Tab("Documents", id="documents"):
                docs = _documents_tab(gr, settings)
        _wire(gr, h, chat, docs, st)
        app.load(lambda: h.doc_outputs(""), None, [docs["result"], docs["table"], docs["pick"]],
                 api_visibility="private")
        app.load(h.restore, st["saved"], [chat["chat"], st["turns"], st["chat_id"], chat["sources"], chat["chats"]],
                 api_visibility="private")
    app.docqa_watcher = watcher
    return app


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _parse_auth(auth: str) -> tuple[str, str]:
    user, sep, password = (auth or "").partition(":")
    if not sep or not user or not password:
        raise ConfigError("auth must look like user:pass (both parts non-empty)")
    return user, password


def launch(app, settings, host=None, port=None, auth=None, block=True):
    """Serve ``app``; binding anything but loopback requires auth (ConfigError otherwise)."""
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
                      theme=theme, css=view.CSS, js=view.CITE_JS, footer_links=["api"])


def main(settings=None, host=None, port=None, auth=None, watch: bool = False) -> int:
    """`docqa serve`: build the UI and serve it until interrupted (``watch``: re-index on file changes)."""
    from core.settings import load_settings

    settings = settings or load_settings()
    host = host or settings.host
    if not _is_loopback(host) and not (auth or settings.auth):  # fail before loading anything heavy
        launch(None, settings, host=host, port=port, auth=auth)
    app = create_app(settings, watch=watch)
    try:
        launch(app, settings, host=host, port=port, auth=auth)
    finally:
        if app.docqa_watcher is not None:
            app.docqa_watcher.stop()
    return 0
