"""Serving benchmark: requests/s and latency through the Gradio API with 1, 4 and 16 concurrent clients.

Starts ``docqa serve`` itself on 127.0.0.1 and a free port, on the seed index,
drives the ``/ask`` endpoint (question, history, mode, k) with gradio_client,
samples the server's RSS throughout, and stops the server at the end.
Skips with a reason if the UI module or its ``ask`` endpoint is not there.
"""
from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from .measure import ROOT, docqa_cmd, free_port, rss_mb, summary_ms, wait_port

API = "/ask"


def _ui_ready() -> str | None:
    ui = ROOT / "ui.py"
    if not ui.exists():
        return "ui.py does not exist yet"
    if "def main" not in ui.read_text(encoding="utf-8", errors="replace"):
        return "ui.py has no main() yet"
    return None


def _level(url: str, clients: int, questions: list[str], per_client: int, time_cap: float) -> dict:
    """``clients`` threads, each with its own Client, sending up to ``per_client`` requests or until the cap."""
    from gradio_client import Client

    conns = [Client(url, verbose=False, analytics_enabled=False, download_files=False) for _ in range(clients)]
    lat: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)
    deadline = [0.0]

    def work(i: int) -> None:
        c = conns[i]
        start.wait()
        for n in range(per_client):
            if time.perf_counter() > deadline[0]:
                break
            q = questions[(i * per_client + n) % len(questions)]
            t = time.perf_counter()
            try:
                c.predict(q, [], "extractive", 5, api_name=API)
                with lock:
                    lat.append(time.perf_counter() - t)
            except Exception as e:  # noqa: BLE001 - a failed request is a measured outcome
                with lock:
                    errors.append(f"{type(e).__name__}: {str(e)[:120]}")

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    deadline[0] = t0 + time_cap
    start.wait()
    for t in threads:
        t.join(timeout=time_cap + 120)
    elapsed = time.perf_counter() - t0
    for c in conns:
        try:
            c.close()
        except Exception:  # noqa: BLE001
            pass
    out = summary_ms(lat)
    out.update({"clients": clients, "ok": len(lat), "errors": len(errors), "error_examples": errors[:3],
                "elapsed_s": elapsed, "rps": len(lat) / elapsed if elapsed else 0.0})
    return out


def bench_serving(config: str, questions: list[str], quick: bool, clock) -> dict:
    """Start the server, measure each concurrency level, stop the server. Never leaves it running."""
    why = _ui_ready()
    if why:
        clock.log(f"serving: skipped ({why})")
        return {"skipped": why}
    port = free_port()
    log = tempfile.NamedTemporaryFile("w+", prefix="docqa-serve-", suffix=".log", delete=False)
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False")
    clock.log(f"serving: starting docqa serve on 127.0.0.1:{port}")
    t0 = time.perf_counter()
    proc = subprocess.Popen(docqa_cmd("--config", config, "serve", "--host", "127.0.0.1", "--port", str(port)),
                            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(ROOT))
    peak = [0.0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], rss_mb(proc.pid, children=True) or 0.0)
            stop.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    result: dict = {"port": port}
    try:
        if not wait_port(port, 120, proc):
            log.seek(0)
            tail = log.read()[-800:]
            return {"skipped": f"docqa serve did not start (rc={proc.poll()}): {tail}"}
        result["startup_s"] = time.perf_counter() - t0
        url = f"http://127.0.0.1:{port}/"
        from gradio_client import Client

        probe = Client(url, verbose=False, analytics_enabled=False, download_files=False)
        api = probe.view_api(return_format="dict", print_info=False) or {}
        if API not in (api.get("named_endpoints") or {}):
            return {"skipped": f"the UI has no {API} endpoint (has {sorted(api.get('named_endpoints') or {})})"}
        t = time.perf_counter()
        probe.predict(questions[0], [], "extractive", 5, api_name=API)  # warm: loads model and index
        result["first_request_s"] = time.perf_counter() - t
        probe.close()
        result["rss_idle_warm_mb"] = rss_mb(proc.pid, children=True)
        levels = (1, 4) if quick else (1, 4, 16)
        result["levels"] = []
        for c in levels:
            per_client = 2 if quick else max(4, 48 // c)
            clock.log(f"serving: {c} concurrent client(s), up to {per_client} requests each")
            result["levels"].append(_level(url, c, questions, per_client, 15.0 if quick else 60.0))
    except Exception as e:  # noqa: BLE001 - report, don't abort the other sections
        result["error"] = f"{type(e).__name__}: {e}"
    finally:
        stop.set()
        sampler.join(timeout=2)
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()
        Path(log.name).unlink(missing_ok=True)
    result["rss_peak_mb"] = peak[0]
    return result
