"""Timing helpers for the benchmarks: repeats and medians, percentiles, peak RSS, timed subprocesses.

Machines here are shared and noisy, so every figure is a median over repeats
(or a percentile over many samples) and every comparison is a ratio of two
numbers taken in the same run.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def percentile(values, q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation; nan for no values."""
    xs = sorted(values)
    if not xs:
        return float("nan")
    if len(xs) == 1:
        return float(xs[0])
    pos = (len(xs) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return float(xs[lo] + (xs[hi] - xs[lo]) * (pos - lo))


def summary_ms(seconds: list[float]) -> dict:
    """p50/p95/mean/min/max in milliseconds of a list of durations in seconds."""
    ms = [s * 1000.0 for s in seconds]
    return {"n": len(ms), "p50": percentile(ms, 50), "p95": percentile(ms, 95),
            "mean": statistics.fmean(ms) if ms else float("nan"),
            "min": min(ms) if ms else float("nan"), "max": max(ms) if ms else float("nan")}


def time_call(fn, repeats: int = 3, warmup: int = 0) -> tuple[float, list[float]]:
    """(median seconds, all samples) of ``fn()`` over ``repeats`` runs after ``warmup`` unmeasured ones."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples), samples


def rss_mb(pid: int | None = None, children: bool = False) -> float:
    """Current resident memory of a process (default: this one), optionally with its children, in MiB."""
    import psutil

    try:
        p = psutil.Process(pid or os.getpid())
        total = p.memory_info().rss
        if children:
            for c in p.children(recursive=True):
                try:
                    total += c.memory_info().rss
                except psutil.Error:
                    pass
        return total / 2**20
    except psutil.Error:
        return float("nan")


def vm_hwm_mb(pid: int | str = "self") -> float | None:
    """Peak resident memory of a process's address space (VmHWM), in MiB; None when unreadable.

    Unlike ``ru_maxrss``, VmHWM starts from zero at exec: Linux carries the
    pre-exec high-water mark (the forked copy of a large parent, e.g. this
    bench process after building a 100k index) into a child's ru_maxrss.
    """
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError):
        pass
    return None


def peak_rss_self_mb() -> float:
    """Peak resident memory of this process so far (VmHWM; ru_maxrss where /proc is missing), in MiB."""
    import resource

    got = vm_hwm_mb()
    return got if got is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


@dataclass
class Proc:
    """What a timed subprocess did."""

    cmd: list[str]
    rc: int
    wall_s: float
    peak_rss_mb: float  # this child's own peak (VmHWM sampled until exit; os.wait4's ru_maxrss as fallback)
    stdout: str
    stderr: str
    timed_out: bool = False

    def check(self) -> "Proc":
        """Raise with the tail of stderr if the command failed."""
        if self.rc != 0:
            tail = "\n".join(self.stderr.strip().splitlines()[-15:])
            raise RuntimeError(f"command failed (rc={self.rc}{', timed out' if self.timed_out else ''}): "
                               f"{' '.join(self.cmd)}\n{tail}")
        return self


def run_timed(cmd: list[str], env: dict | None = None, timeout: float = 600.0, cwd: Path | None = None) -> Proc:
    """Run ``cmd`` to completion; wall time from spawn to exit, and its peak RSS.

    The peak is the child's VmHWM, sampled every 20 ms until it exits (a
    high-water mark, so only growth in the last 20 ms can be missed); the
    ``os.wait4`` figure is used only if no sample was read, since it includes
    the parent's high-water mark at fork time (see ``vm_hwm_mb``).

    Output goes to temporary files, not pipes, so a chatty child never blocks
    and reading it costs nothing while the clock runs.
    """
    full_env = dict(os.environ)
    full_env.update(env or {})
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=full_env, cwd=str(cwd or ROOT))
        killed = threading.Event()

        def _kill():
            killed.set()
            p.kill()

        timer = threading.Timer(timeout, _kill)
        timer.start()
        done, hwm = threading.Event(), [None]

        def _sample():
            while not done.is_set():
                got = vm_hwm_mb(p.pid)  # None once the child is a zombie
                if got is not None:
                    hwm[0] = max(hwm[0] or 0.0, got)
                done.wait(0.02)

        sampler = threading.Thread(target=_sample, daemon=True)
        sampler.start()
        try:
            _, status, usage = os.wait4(p.pid, 0)
        finally:
            done.set()
            timer.cancel()
        wall = time.perf_counter() - t0
        sampler.join()
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        peak = hwm[0] if hwm[0] is not None else usage.ru_maxrss / 1024.0
        return Proc(cmd, p.returncode, wall, peak, out.read(), err.read(), killed.is_set())


def docqa_cmd(*args: str) -> list[str]:
    """The `docqa` console script of this interpreter's venv (or `python -m docqa`)."""
    script = Path(sys.executable).parent / "docqa"
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-m", "docqa", *args]


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float, proc=None) -> bool:
    """True once 127.0.0.1:port accepts connections; False on timeout or if ``proc`` exits."""
    import socket

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            return False
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.2)
    return False


class Clock:
    """Elapsed-time progress lines for a long run."""

    def __init__(self, stream=None):
        self.t0 = time.perf_counter()
        self.stream = stream or sys.stderr

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def log(self, msg: str) -> None:
        m, s = divmod(int(self.elapsed()), 60)
        print(f"[bench {m:02d}:{s:02d}] {msg}", file=self.stream, flush=True)
