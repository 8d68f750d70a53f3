"""A warm helper process behind ``docqa ask``, so a second question does not pay the cold start.

A fresh ``docqa ask`` spends ~0.7 s before its 15-20 ms of answering: importing numpy and onnxruntime,
opening the ONNX session, spaCy's lemma tables and the index (bench/results.md, cold start); ~3 s while it
still imported chromadb's Python client and bm25s. After
answering in-process, ``docqa ask`` starts this helper in the background; the next ``docqa ask`` with
the same settings, in the same folder, on the same code sends its question over a Unix socket and
prints the reply. Like Gradle's daemon: it is on by default, it exits by itself after
``ask_daemon_idle_s`` seconds without a question (0 switches it off), and anything unexpected makes
the client answer in-process as before.

It never answers from a stale view: it records the index's generation token when it loads and quits,
handing the question back, as soon as the token moves (a ``docqa ingest`` in another process; a
long-lived embedded Chroma client is not relied on to see another process's writes). Run it by hand
for debugging: ``python askd.py --socket PATH [--config FILE]``.
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
_CODE = ("askd.py", "docqa.py", "core", "ingest", "qa")


def _code_stamp() -> str:
    """Sizes and mtimes of the answering code: a helper started before an edit or upgrade is not reused."""
    parts = []
    for name in _CODE:
        p = ROOT / name
        for f in sorted(p.glob("*.py")) if p.is_dir() else [p]:
            st = f.stat()
            parts.append(f"{f.name}:{st.st_size}:{st.st_mtime_ns}")
    parts.append((ROOT / "qa" / "answerability.json").read_text() if (ROOT / "qa" / "answerability.json").exists()
                 else "")
    return "|".join(parts)


def socket_path(settings) -> Path | None:
    """Where the helper for these settings, this folder and this code listens; None when switched off
    or when no private runtime folder can be had."""
    if settings.ask_daemon_idle_s <= 0 or not hasattr(socket, "AF_UNIX") or not hasattr(os, "getuid"):
        return None
    base = Path(os.environ.get("XDG_RUNTIME_DIR") or "/tmp") / f"docqa-{os.getuid()}"
    try:
        base.mkdir(mode=0o700, exist_ok=True)
        st = base.stat()
    except OSError:
        return None
    if st.st_uid != os.getuid() or st.st_mode & 0o077:
        return None  # someone else's folder, or readable by others: never talk to a socket in it
    same = settings.replace(top_k=1, mode="extractive")  # per question: they travel in the request
    # The helper keeps the environment it was started with: DOCQA_THREADS, the LLM key (hashed into the
    # name, never stored), and the installed packages (site-packages changes when pip adds or removes one).
    env = sorted((k, v) for k, v in os.environ.items() if k.startswith("DOCQA_") or k == settings.llm_api_key_env)
    import sysconfig

    try:
        packages = os.stat(sysconfig.get_paths()["purelib"]).st_mtime_ns
    except OSError:
        packages = 0
    key = hashlib.sha256(f"{os.getcwd()}\n{same!r}\n{_code_stamp()}\n{sys.prefix}\n{env}\n{packages}"
                         .encode()).hexdigest()
    return base / f"ask-{key[:24]}.sock"


def ask(path: Path, request: dict, timeout: float) -> dict | None:
    """The helper's reply to ``request``, or None when there is no helper (or it handed the question back)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            s.connect(str(path))
            s.settimeout(timeout)
            s.sendall(json.dumps(request).encode() + b"\n")
            s.shutdown(socket.SHUT_WR)
            data = b"".join(iter(lambda: s.recv(65536), b""))
        reply = json.loads(data)
    except (OSError, ValueError):
        return None
    return reply if isinstance(reply, dict) and "rc" in reply else None


def spawn(path: Path, config: str | None) -> None:
    """Start the helper in the background, detached from this terminal; it outlives this process."""
    import subprocess

    cmd = [sys.executable, str(ROOT / "askd.py"), "--socket", str(path)]
    if config:
        cmd += ["--config", str(Path(config).resolve())]
    with open(path.with_suffix(".log"), "ab") as log:
        subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                         start_new_session=True, close_fds=True, cwd=os.getcwd())


def serve(path: Path, settings, respond) -> int:
    """Answer questions on ``path`` until idle for ``settings.ask_daemon_idle_s`` or the index changes.

    ``respond(request, settings)`` returns the reply dict ({"rc", "out", "err"}). One helper per socket:
    a second one started in a race finds the lock taken and exits.
    """
    import fcntl
    import signal

    lock = open(path.with_suffix(".lock"), "a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return 0
    lock.truncate(0)
    lock.write(str(os.getpid()))
    lock.flush()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # `stop`: leave through the cleanup below
    from ingest.store import stamp_path

    stamp = stamp_path(settings)

    def generation() -> str | None:
        try:
            return stamp.read_text() if stamp else None
        except OSError:
            return "gone"

    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        loaded = generation()
        respond({"question": "warm-up", "history": None}, settings)  # load everything before taking questions
        path.unlink(missing_ok=True)
        srv.bind(str(path))  # inside the private folder (socket_path), so never reachable by other users
        os.chmod(path, 0o600)
        srv.listen(8)
        srv.settimeout(settings.ask_daemon_idle_s)
        while True:
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                return 0
            with conn:
                conn.settimeout(30)
                try:
                    request = json.loads(b"".join(iter(lambda: conn.recv(65536), b"")))
                except (OSError, ValueError):
                    continue
                if generation() != loaded:
                    return 0  # closing without a reply hands the question back to the client
                try:
                    reply = respond(request, settings)
                except Exception as e:  # noqa: BLE001 - the client answers in-process instead
                    print(f"askd: {e.__class__.__name__}: {e}", file=sys.stderr)
                    continue
                conn.sendall(json.dumps(reply).encode())
    finally:
        srv.close()
        path.unlink(missing_ok=True)
        log = path.with_suffix(".log")
        if log.exists() and not log.stat().st_size:
            log.unlink()
        path.with_suffix(".lock").unlink(missing_ok=True)  # while still held: a racing helper just starts anew


def stop(path: Path, wait_s: float = 10.0) -> bool:
    """Stop the helper serving ``path`` (SIGTERM to the pid in its lock file); True if one was running."""
    import signal
    import time

    try:
        pid = int(path.with_suffix(".lock").read_text())
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        return False
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            return True
        time.sleep(0.05)
    return True


def main(argv: list[str] | None = None) -> int:
    """``python askd.py --socket PATH [--config FILE]`` (started by ``docqa ask``)."""
    import argparse

    p = argparse.ArgumentParser(prog="askd.py")
    p.add_argument("--socket", required=True, type=Path)
    p.add_argument("--config")
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from core.offline import enforce_offline
    from core.settings import load_settings

    enforce_offline()
    import docqa

    settings = load_settings(args.config)
    if socket_path(settings) != args.socket:
        print("askd: settings differ from the client's; not serving", file=sys.stderr)
        return 1
    return serve(args.socket, settings, docqa.ask_reply)


if __name__ == "__main__":
    sys.exit(main())
