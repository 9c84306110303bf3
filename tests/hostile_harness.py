"""Runs one hostile case the way a user would meet it: a fresh ``asl-edge`` process, in a folder of
the attacker's choosing, under a memory and a time cap.

The targets every case is held to: it ends in one clear line and a non-zero exit, or in a correct
result, within ``TIME_S`` seconds and ``MEM_BYTES`` of resident memory, and no code from a model or
from the working folder runs.

    from hostile_harness import run_capped, assert_one_error_line, assert_ok, assert_within

    r = run_capped(["predict", model, image], cwd=tmp_path)
    assert_one_error_line(r, "refusing")      # or assert_ok(r)
    assert_within(r)                          # peak memory and wall time under the targets

How the caps are applied:

* time: the wall clock (``time_s``); on expiry the whole process group is killed and the result
  says ``timed_out``.
* memory: ``RLIMIT_AS`` (soft and hard, so no child can raise it) at ``vm_bytes``, and the peak
  resident memory of the process or the largest child it waited for (written by the process at
  exit; ``wait4``'s ``ru_maxrss`` for a process killed first, which also counts the test
  process it was started from) is returned for :func:`assert_within`. TensorFlow maps about
  1.5 GB of address space when it is imported (660 MB resident), so commands that load a Keras
  model get ``vm_bytes=TF_VM_BYTES`` and are held to ``MEM_BYTES`` by their resident peak;
  runtime-only commands (LiteRT, ONNX Runtime, data) run with the address space itself capped at
  ``MEM_BYTES``.

The command runs as ``python -P -c 'from asl_edge.cli import main; main()' ARGS`` (``-P``: the
working folder is not put on ``sys.path``, as for the installed ``asl-edge`` console script), so
a module planted in ``cwd`` can only be imported by a child process asl-edge starts carelessly.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MEM_BYTES = 3 << 29  # 1.5 GiB
TIME_S = 20.0
TF_VM_BYTES = 6 << 30
CLI = "from asl_edge.cli import main; main()"
# Run first in the capped process: at exit it writes its own resident peak (VmHWM: this program
# only; wait4's figure would also count the memory of the test process it was started from) or its
# largest child's, whichever is larger, to the file HARNESS_PEAK names.
_PEAK = """
import atexit, os, resource
def _peak():
    with open("/proc/self/status") as fh:
        hwm = next((int(line.split()[1]) for line in fh if line.startswith("VmHWM")), 0)
    with open(os.environ["HARNESS_PEAK"], "w") as fh:
        fh.write(str(max(hwm, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)))
atexit.register(_peak)
"""
ERROR_PREFIX = "asl-edge: error: "


@dataclass
class CappedResult:
    """What one capped run did: ``subprocess.CompletedProcess``'s fields plus its measured cost."""

    args: list
    returncode: int | None
    stdout: str
    stderr: str
    wall_s: float
    peak_rss_bytes: int
    timed_out: bool
    mem_bytes: int
    time_s: float

    def summary(self) -> str:
        last = self.stderr.strip().splitlines()[-1] if self.stderr.strip() else ""
        return (f"exit {self.returncode}{' (timed out)' if self.timed_out else ''}, {self.wall_s:.1f} s, "
                f"{self.peak_rss_bytes >> 20} MB peak; last stderr line: {last[:300]!r}")


def _read_peak(path: str, fallback_kb: int) -> int:
    """The peak the process wrote at exit; ``wait4``'s (an over-estimate) when it wrote none (killed)."""
    try:
        with open(path) as fh:
            return int(fh.read() or fallback_kb)
    except (OSError, ValueError):
        return fallback_kb
    finally:
        os.unlink(path)


def _limit(pid: int, vm_bytes: int) -> None:
    """Caps a just-started process. Applied from outside (prlimit) rather than in a preexec_fn, so
    the child is started with vfork: a forked copy of a large test process would count that
    process's memory as the child's resident peak. The interpreter's start-up (tens of ms) is far
    longer than the gap."""
    resource.prlimit(pid, resource.RLIMIT_AS, (vm_bytes, vm_bytes))
    resource.prlimit(pid, resource.RLIMIT_CORE, (0, 0))  # a crash must not write a core file


def _wait(pid: int, deadline: float):
    """Reaps ``pid`` with ``wait4`` (its peak resident memory, descendants included), killing its
    process group at ``deadline``. Returns ``(status, rusage, timed_out)``."""
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return status, usage, False
        if time.monotonic() >= deadline:
            os.killpg(pid, signal.SIGKILL)
            _, status, usage = os.wait4(pid, 0)
            return status, usage, True
        time.sleep(0.02)


def run_capped(argv, cwd: str | Path, mem_bytes: int = MEM_BYTES, time_s: float = TIME_S,
               env: dict | None = None, vm_bytes: int | None = None, snippet: str | None = None,
               stdin: bytes | None = None) -> CappedResult:
    """Runs ``asl-edge ARGV`` (or ``python -P -c SNIPPET ARGV``) in ``cwd`` under the caps.

    Args:
        argv: command-line arguments (anything ``str()`` turns into one).
        cwd: the working folder (the attacker's folder in module-shadowing cases).
        mem_bytes: the resident-memory target :func:`assert_within` checks.
        time_s: the wall-clock limit; the process group is killed when it is reached.
        env: extra environment variables (added to this process's environment).
        vm_bytes: ``RLIMIT_AS`` for the process and its children (default ``mem_bytes``; pass
            :data:`TF_VM_BYTES` for commands that import TensorFlow).
        snippet: Python code to run instead of the CLI (``sys.argv[1:]`` is ``argv``).
        stdin: bytes for the process's standard input (default: none, reads see end of file).
    """
    vm = vm_bytes or mem_bytes
    peak_file = tempfile.NamedTemporaryFile(prefix="harness-peak-", delete=False)
    peak_file.close()
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "ASL_EDGE_PROBE_CACHE": "off", "HARNESS_PEAK": peak_file.name,
                **(env or {})}
    cmd = [sys.executable, "-P", "-c", _PEAK + (snippet or CLI), *map(str, argv)]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=str(cwd), env=full_env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    _limit(proc.pid, vm)
    streams = {}
    readers = [threading.Thread(target=lambda k=k, f=f: streams.__setitem__(k, f.read()), daemon=True)
               for k, f in (("out", proc.stdout), ("err", proc.stderr))]
    for t in readers:
        t.start()
    try:
        proc.stdin.write(stdin or b"")
        proc.stdin.close()
    except BrokenPipeError:
        pass
    status, usage, timed_out = _wait(proc.pid, start + time_s)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
    wall = time.monotonic() - start
    try:  # a child left behind in the group would hold the pipes open
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for t in readers:
        t.join()
    out, err = streams.get("out", b""), streams.get("err", b"")
    rss = _read_peak(peak_file.name, usage.ru_maxrss) << 10  # kB on Linux
    return CappedResult(cmd, proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
                        wall, rss, timed_out, mem_bytes, time_s)


def assert_one_error_line(r: CappedResult, match: str | None = None) -> str:
    """A clean refusal: a non-zero exit (not a signal), no traceback, and the last stderr line
    ``asl-edge: error: ...`` (containing ``match`` where given, case-insensitive). Returns that line."""
    assert not r.timed_out, r.summary()
    assert r.returncode is not None and r.returncode > 0, r.summary()
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    lines = r.stderr.strip().splitlines()
    assert lines and lines[-1].startswith(ERROR_PREFIX), r.summary()
    if match is not None:
        assert match.lower() in lines[-1].lower(), r.summary()
    return lines[-1]


def assert_ok(r: CappedResult) -> str:
    """A correct result: exit 0, no traceback, no error line. Returns stdout."""
    assert not r.timed_out and r.returncode == 0, r.summary() + "\n" + r.stderr[-2000:]
    assert "Traceback" not in r.stderr and ERROR_PREFIX not in r.stderr, r.stderr[-2000:]
    return r.stdout


def assert_within(r: CappedResult) -> None:
    """The run finished under its wall-clock limit and its resident peak stayed under ``mem_bytes``."""
    assert not r.timed_out, r.summary()
    assert r.peak_rss_bytes <= r.mem_bytes, r.summary()
