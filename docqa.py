"""The `docqa` command line, a front end over ``ingest``, ``qa`` and ``eval`` (and ``ui``, ``bench``).

Heavy libraries load inside each command, so --help is instant.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from pathlib import Path

EPILOG = {
    "ingest": "example:\n  docqa ingest                 # index ./corpus, only what changed\n"
              "  docqa ingest notes/ a.pdf    # index more files\n  docqa ingest --rebuild       # start clean\n"
              "  docqa ingest --watch         # and again whenever a file changes, until Ctrl+C\n"
              "  docqa ingest --dry-run       # what a run would do, and why; writes nothing",
    "status": "example:\n  docqa status",
    "show": "example:\n  docqa show 001_d5c15e6c1eacf066.txt   # the cleaned text all offsets point into",
    "ask": "example:\n  docqa ask \"Which court ruled on AI layoffs?\"\n"
           "  docqa ask \"What must companies do under that ruling?\" --history chat.json --json\n\n"
           "The first ask loads everything (~0.7 s) and leaves a warm helper that answers the next ones\n"
           "in ~0.2 s; it exits after ask_daemon_idle_s (300) idle seconds or when the index changes.\n"
           "DOCQA_ASK_DAEMON_IDLE_S=0 docqa ask ...   # no helper",
    "eval": "example:\n  docqa eval eval/seed_qa.jsonl --out report/\n"
            "  docqa eval eval/seed_qa.jsonl --fail-under hit@k=0.8 --fail-over false_refusal_rate=0.2\n"
            "  docqa eval my_qa.jsonl --corpus my_docs/ --out report-mine/\n"
            "  docqa eval squad.json --format squad --out report-squad/\n"
            "  docqa eval eval/seed_qa.jsonl --out new/ --baseline old/report.json --fail-drop key_fact_recall=0.02",
    "serve": "example:\n  docqa serve                       # http://127.0.0.1:7860\n"
             "  docqa serve --host 0.0.0.0 --auth alice:s3cret\n"
             "  docqa serve --watch               # re-index the corpus folder when its files change",
    "bench": "example:\n  docqa bench --sizes 1000,10000 --out bench/",
    "calibrate": "example:\n  docqa calibrate                       # refit qa/answerability.json from ../shared/datasets\n"
                 "  docqa calibrate --datasets /data/dev --out /tmp/model.json --png /tmp/curve.png",
    "feedback": "example:\n  docqa feedback export --out feedback_qa.jsonl   # thumbs from the chat UI as eval lines\n"
                "  docqa eval feedback_qa.jsonl",
}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="docqa", description="Ask questions of a folder of documents; "
                                "every answer sentence cites the passage it came from.",
                                epilog="example:\n  docqa ingest && docqa ask \"What did the Hangzhou court rule?\"",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="settings file (default: ./docqa.toml or [tool.docqa] in pyproject.toml)")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    def add(name, help_):
        return sub.add_parser(name, help=help_, description=help_, epilog=EPILOG[name],
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    s = add("ingest", "index documents (only what changed since the last run)")
    s.add_argument("paths", nargs="*", type=Path, help="files or folders (default: the corpus folder)")
    s.add_argument("--rebuild", action="store_true", help="drop the index and build it from scratch")
    s.add_argument("--watch", action="store_true",
                   help="keep running: re-index when files are added, changed or removed (Ctrl+C stops)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.add_argument("--wait", action=argparse.BooleanOptionalAction, default=True,
                   help="when another writer holds the index, wait for it (default) or, with --no-wait, "
                        "exit at once naming it")
    s.add_argument("--dry-run", action="store_true",
                   help="clean and chunk, then say what a run would add/update/remove and why; write nothing")

    add("status", "show what is indexed")

    s = add("show", "print a document's cleaned text")
    s.add_argument("source", help="file name as listed by `docqa status`")

    s = add("ask", "answer a question with cited sentences")
    s.add_argument("question")
    s.add_argument("--history", type=Path, help='JSON list of {"role": "user"|"assistant", "content": ...}')
    s.add_argument("--json", action="store_true", help="print exactly one JSON object")
    s.add_argument("--mode", choices=["extractive", "llm"])
    s.add_argument("--k", type=int, help="passages to retrieve (top-k)")

    s = add("eval", "evaluate retrieval, answers, citations and refusal on a question set")
    s.add_argument("set", type=Path, help="JSONL eval set (or SQuAD JSON with --format squad)")
    s.add_argument("--corpus", type=Path, help="evaluate on a throwaway index of this folder")
    s.add_argument("--k", type=int, default=5)
    s.add_argument("--mode", choices=["extractive", "llm"])
    s.add_argument("--out", type=Path, help="write report.json, report.md and a PNG chart here")
    s.add_argument("--format", choices=["jsonl", "squad"], default="jsonl")
    s.add_argument("--limit", type=int, help="only the first N questions")
    s.add_argument("--fail-under", action="append", default=[], metavar="METRIC=VALUE",
                   help="exit 1 if METRIC is below VALUE (repeatable; [TYPE/]METRIC, e.g. factoid/hit@k=0.8)")
    s.add_argument("--fail-over", action="append", default=[], metavar="METRIC=VALUE",
                   help="exit 1 if a lower-is-better METRIC (false_refusal_rate, latency_p50_ms, "
                        "latency_p95_ms) is above VALUE (repeatable)")
    s.add_argument("--baseline", type=Path, metavar="OLD/report.json",
                   help="compare with an earlier run's report.json: each metric's difference, flipped questions")
    s.add_argument("--fail-drop", action="append", default=[], metavar="METRIC=DELTA",
                   help="exit 1 if METRIC got worse than the --baseline by more than DELTA (repeatable; "
                        "[TYPE/]METRIC; lower-is-better metrics: rose by more)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")

    s = add("serve", "run the chat UI")
    s.add_argument("--host")
    s.add_argument("--port", type=int)
    s.add_argument("--auth", help="user:pass (required to bind anything but 127.0.0.1)")
    s.add_argument("--watch", action="store_true",
                   help="re-index the corpus folder whenever its files change (the Documents tab follows)")

    s = add("feedback", "export the chat's thumbs up/down as eval-set lines")
    fb = s.add_subparsers(dest="action", required=True, metavar="ACTION")
    e = fb.add_parser("export", help="write eval-set JSONL from index_dir/feedback.jsonl",
                      description="thumbs-up: a question with the cited quotes as evidence; thumbs-down: a line "
                                  "flagged \"review\": true with the comment", epilog=EPILOG["feedback"],
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    e.add_argument("--out", type=Path, required=True, help="the JSONL file to write")
    e.add_argument("--feedback", type=Path, help="the feedback file (default: index_dir/feedback.jsonl)")

    s = add("calibrate", "refit the answerability model on the development sets (minutes)")
    s.add_argument("rest", nargs=argparse.REMAINDER, help="options of eval.calibrate (--datasets, --out, --png, ...)")

    s = add("bench", "measure speed and scale (slow; see bench/README)")
    s.add_argument("--sizes", default="1000,10000,100000")
    s.add_argument("--out", type=Path, default=Path("bench"))
    s.add_argument("--quick", action="store_true", help="a small smoke run")
    return p


def _cmd_ingest(args, settings) -> int:
    from ingest.pipeline import run_ingest

    if getattr(args, "watch", False):
        from ingest.watch import watch

        return watch(settings, args.paths or None, rebuild=args.rebuild)

    if args.dry_run:
        from ingest.dryrun import dry_run

        print(dry_run(settings, args.paths or None, rebuild=args.rebuild).summary())
        return 0
    report = run_ingest(settings, args.paths or None, rebuild=args.rebuild, progress=not args.quiet,
                        wait=args.wait)
    print(report.summary())
    return 0


def _cmd_status(args, settings) -> int:
    import datetime

    from ingest.store import open_store, read_index_model

    model = read_index_model(settings)
    if model is None:
        print(f"no index at {settings.index_dir if settings.chroma_mode == 'embedded' else 'the Chroma server'}; "
              "run `docqa ingest`")
        return 1
    store = open_store(settings, model[0], model[1], inspect=True)
    n_docs, n_chunks, n_sents = store.counts()
    where = (f"{settings.index_dir}" if settings.chroma_mode == "embedded"
             else f"chroma server {settings.chroma_host}:{settings.chroma_port}")
    print(f"index: {where}, collection {settings.collection!r}, model {model[0]} ({model[1]}-dim)")
    print(f"{n_docs} documents, {n_chunks} chunks, {n_sents} sentences")
    from ingest.fingerprint import describe, fingerprint, key

    records = store.records()
    print(f"fingerprint: {describe(store.index_fingerprint())}")
    now = fingerprint(settings, model[0])
    stale = sum(r.fingerprint != key(now) for r in records.values())
    if stale:
        print(f"  {stale} documents were built with other settings than now ({describe(now)}); "
              "`docqa ingest` re-processes them")
    for r in sorted(records.values(), key=lambda r: r.source):
        when = datetime.datetime.fromtimestamp(r.indexed_at).strftime("%Y-%m-%d %H:%M")
        print(f"  {r.source}  {r.n_chunks:>4} chunks  {when}  {r.title}")
    return 0


def _cmd_show(args, settings) -> int:
    from core.errors import InputError
    from ingest.store import open_store, read_index_model

    model = read_index_model(settings)
    if model is None:
        print("no index yet; run `docqa ingest`", file=sys.stderr)
        return 1
    store = open_store(settings, model[0], model[1], inspect=True)
    recs = store.records().values()
    match = [r for r in recs if r.source == args.source] or [r for r in recs if Path(r.source).name == args.source]
    if not match:
        raise InputError(f"no indexed document named {args.source!r}; `docqa status` lists them")
    sys.stdout.write(store.document_text(match[0].doc_id) + "\n")
    return 0


def _cmd_ask(args, settings) -> int:
    import askd
    from core.errors import InputError

    history = None
    if args.history:
        try:
            history = json.loads(args.history.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise InputError(f"cannot read history file {args.history}: {e}; expected a JSON list of "
                             '{"role": ..., "content": ...}') from None
    request = {"question": args.question, "history": history, "mode": args.mode, "top_k": settings.top_k,
               "json": args.json}
    path = askd.socket_path(settings)
    reply = askd.ask(path, request, timeout=settings.llm_timeout + 30) if path else None
    if reply is None:
        reply = ask_reply(request, settings, read_only=True)
        if path and reply["rc"] == 0:
            askd.spawn(path, args.config)  # after answering: the next ask finds it warm
    if reply.get("out"):
        print(reply["out"])
    if reply.get("err"):
        print(reply["err"], file=sys.stderr)
    return reply["rc"]


def ask_reply(request: dict, settings, read_only: bool = False) -> dict:
    """Answer one ``docqa ask`` request ({"question", "history", "mode", "top_k", "json"}) as
    {"rc", "out", "err"}: what the command prints. Shared by the in-process path and askd.py.

    ``read_only``: a process that answers and exits opens the index without Chroma's Python client
    (ingest/chroma_read.py: ~1.3 s of a cold ask)."""
    from core.errors import DocqaError
    from qa.answer import answer

    if request.get("top_k"):
        settings = settings.replace(top_k=request["top_k"])
    try:
        embedder = store = None
        if read_only:
            from ingest.embed import get_embedder
            from ingest.store import open_store

            embedder = get_embedder(settings)
            embedder.prefetch()  # the ONNX session builds on the other core while the index opens
            store = open_store(settings, embedder.name, embedder.dim, encoder_id=embedder.encoder_id,
                               read_only=True)
        ans = answer(request["question"], history=request.get("history"), settings=settings,
                     mode=request.get("mode"), embedder=embedder, store=store)
    except DocqaError as e:
        return {"rc": 2, "out": "", "err": f"error: {e}"}
    out = json.dumps(ans.to_json(), ensure_ascii=False) if request.get("json") else render_text(ans)
    return {"rc": 0, "out": out, "err": ""}


def _cmd_eval(args, settings) -> int:
    from eval.runner import main as eval_main

    return eval_main(args, settings)


def _cmd_serve(args, settings) -> int:
    import ui

    return ui.main(settings, host=args.host, port=args.port, auth=args.auth, watch=args.watch)


def _cmd_feedback(args, settings) -> int:
    from eval.feedback import export_evalset, feedback_path

    src = args.feedback or feedback_path(settings)
    counts, warnings = export_evalset(src, args.out)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(f"wrote {counts['lines']} lines to {args.out}: {counts['up']} thumbs-up as eval questions, "
          f"{counts['down']} thumbs-down flagged for review; run `docqa eval {args.out}`")
    return 0


def _cmd_calibrate(args, settings) -> int:
    from eval.calibrate import main as calibrate_main

    return calibrate_main(args.rest, settings)


def _cmd_bench(args, settings) -> int:
    # bench/ sits beside this file and is not installed: it measures the project, it is not part of it.
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench.run import main as bench_main

    return bench_main(args, settings)


# -- terminal rendering of an answer -------------------------------------
def _wrap(text: str, indent: str) -> str:
    return textwrap.fill(" ".join(text.split()), width=100, initial_indent=indent, subsequent_indent=indent)


def _source(c) -> str:
    return f"[{c.n}] {c.title or c.source} ({c.source}, chars {c.start}-{c.end})\n" + _wrap(f"\"{c.quote}\"", "    ")


def render_text(ans) -> str:
    """The answer as plain text for the terminal (``docqa ask`` without ``--json``)."""
    lines = [_wrap(ans.text, ""), ""]
    if ans.citations:
        lines.append("Sources:")
        lines += [_source(c) for c in ans.citations]
    if ans.refused and ans.related:
        lines.append("Related, but not an answer:")
        lines += [_source(c) for c in ans.related]
    if ans.flagged:
        lines.append("Removed (not supported by the cited passages):")
        lines += [_wrap(f"- {s}", "  ") for s in ans.flagged]
    if ans.note:
        lines.append(_wrap(f"note: {ans.note}", ""))
    total = ans.timings_ms.get("total") if ans.timings_ms else None
    lines.append(f"mode: {ans.mode}" + (f" · {total:.0f} ms" if total is not None else ""))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `docqa` console script."""
    args = _parser().parse_args(argv)
    from core.errors import DocqaError
    from core.offline import enforce_offline
    from core.settings import load_settings

    enforce_offline()
    try:
        overrides = {}
        if getattr(args, "k", None) and args.cmd == "ask":
            overrides["top_k"] = args.k
        settings = load_settings(args.config, **overrides)
        handler = globals()[f"_cmd_{args.cmd}"]
        rc = handler(args, settings) or 0
        if argv is None and args.cmd == "ask":
            # A one-shot ask has printed all it will: leave without tearing the interpreter down, which
            # frees every object one by one (0.1-0.25 s of a cold ask, measured). Callers that pass argv
            # (tests, scripts) get the return value as usual.
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            except OSError:  # a reader that went away (`| head`): nothing more can reach it
                pass
            os._exit(rc)
        return rc
    except DocqaError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
