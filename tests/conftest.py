"""Shared fixtures. The whole suite runs with outbound (non-loopback) sockets refused."""
from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.offline import enforce_offline  # noqa: E402

enforce_offline()
# `docqa ask` in a subprocess would leave a warm helper (askd.py) per index for minutes; tests/test_askd.py
# switches it on where it is the subject.
os.environ["DOCQA_ASK_DAEMON_IDLE_S"] = "0"

ATTEMPTS: list[str] = []  # every non-loopback connection tried during the session


def _is_loopback(address) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, bytes):
        host = host.decode()
    if host in ("localhost", "", None):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False  # a host name: resolving it already means trying to reach out


def _audit(event, args):
    if event in ("socket.connect", "socket.sendto") and len(args) >= 2:
        sock, address = args[0], args[-1]
        if getattr(sock, "family", None) in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
            ATTEMPTS.append(f"{event} {address!r}")
            raise ConnectionRefusedError(f"test suite is offline: refused {address!r}")
    elif event == "socket.getaddrinfo" and args and not _is_loopback(args[0]):
        ATTEMPTS.append(f"getaddrinfo {args[0]!r}")
        raise socket.gaierror(f"test suite is offline: refused lookup of {args[0]!r}")


sys.addaudithook(_audit)


@pytest.fixture(scope="session")
def embedder():
    """The real embedding model, loaded once."""
    from ingest.embed import get_embedder
    from core.settings import Settings

    return get_embedder(Settings().model_path)


@pytest.fixture
def make_settings(tmp_path):
    """Settings pointing at a fresh index dir (and by default a copy of the seed corpus)."""
    from core.settings import Settings

    def make(corpus: Path | None = None, copy_seed: bool = True, **kw):
        if corpus is None:
            corpus = tmp_path / "corpus"
            if copy_seed and not corpus.exists():
                shutil.copytree(ROOT / "corpus", corpus)
            corpus.mkdir(exist_ok=True)
        return Settings(corpus_dir=corpus, index_dir=tmp_path / "index", **kw)

    return make


@pytest.fixture(scope="session")
def seed_settings(tmp_path_factory, embedder):
    """Settings of an index of the seed corpus, built once per test session. Treat as read-only."""
    from ingest.pipeline import run_ingest
    from core.settings import Settings

    base = tmp_path_factory.mktemp("seed")
    corpus = base / "corpus"
    shutil.copytree(ROOT / "corpus", corpus)
    settings = Settings(corpus_dir=corpus, index_dir=base / "index")
    run_ingest(settings, progress=False, embedder=embedder)
    return settings


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (for servers a test starts itself)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_ui(seed_settings, embedder, base: Path, **changes):
    """(app, settings, url): the UI launched on a free loopback port over a writable copy of the seed index."""
    import ui

    shutil.copytree(seed_settings.corpus_dir, base / "corpus")
    shutil.copytree(seed_settings.index_dir, base / "index")
    settings = seed_settings.replace(corpus_dir=base / "corpus", index_dir=base / "index", **changes)
    app = ui.create_app(settings, embedder=embedder)
    port = free_port()
    ui.launch(app, settings, port=port, block=False)
    return app, settings, f"http://127.0.0.1:{port}/"


def pytest_sessionfinish(session, exitstatus):
    if ATTEMPTS:
        print(f"\nOFFLINE VIOLATIONS: {ATTEMPTS}", file=sys.stderr)
