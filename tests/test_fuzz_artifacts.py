"""Issue #13: mutated .tflite and .onnx files end in one clear error or a prediction, never a signal.

One child process (memory capped with ``RLIMIT_AS``) loads and runs every mutant through
``load_predictor(..., verify=False)`` (a file copied alone, or ``--no-verify``), with the probe
child process switched off so that the in-process validation alone is tested, and reports each
outcome before the next; if it dies on a signal, the mutant that killed it is named and the rest
still run in a fresh child.
"""

import json
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

MEMORY_LIMIT = 3 << 30
CHILD = textwrap.dedent("""
    import json, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (CAP_BYTES, CAP_BYTES))
    import numpy as np
    from asl_edge.runtime.errors import AslEdgeError
    from asl_edge.runtime import runners
    from asl_edge.runtime.predict import load_predictor
    runners.probe = lambda *args: None  # the in-process checks alone must hold; the probe is a second net
    paths = json.loads(open(sys.argv[1]).read())[int(sys.argv[2]):]
    image = np.full((1, 16, 16, 3), 120, np.uint8)
    for path in paths:
        print("START", path, flush=True)
        try:
            top = load_predictor(path, verify=False).top_k(image, 3)[0]
            ok = all(0.0 <= p <= 1.0 + 1e-5 for _, p in top)
            print("OK" if ok else "BADPROB", path, flush=True)
        except AslEdgeError as exc:
            msg = str(exc)
            print("ERR" if "\\n" not in msg and msg else "BADMSG", path, flush=True)
        except Exception as exc:
            print("UNEXPECTED", path, type(exc).__name__, str(exc)[:100].replace("\\n", " "), flush=True)
""").replace("CAP_BYTES", str(MEMORY_LIMIT))


def _mutants(src: Path, out: Path, n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    buf = src.read_bytes()
    paths = []
    for i in range(n):
        b = bytearray(buf)
        r = rng.random()
        if r < 0.7:  # flipped bytes
            for _ in range(rng.choice([1, 1, 2, 3, 8])):
                b[rng.randrange(len(b))] = rng.randrange(256)
        elif r < 0.85:  # a 32-bit field set to an extreme value
            pos = rng.randrange(len(b) - 4) & ~3
            b[pos:pos + 4] = rng.choice([0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 30000, 0]).to_bytes(4, "little")
        else:  # truncated
            b = b[:rng.randrange(8, len(b))]
        path = out / f"m{i:03d}{src.suffix}"
        path.write_bytes(bytes(b))
        paths.append(str(path))
    return paths


def _run_all(paths: list[str], tmp: Path) -> dict:
    listing = tmp / "paths.json"
    listing.write_text(json.dumps(paths))
    outcome, start = {}, 0
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    while start < len(paths):
        proc = subprocess.run([sys.executable, "-c", CHILD, str(listing), str(start)], capture_output=True,
                              text=True, timeout=120, env=env)
        current = None
        for line in proc.stdout.splitlines():
            kind, path, *rest = line.split(" ", 2)
            if kind == "START":
                current = path
            else:
                outcome[path] = (kind, rest[0] if rest else "")
                current = None
        if current is None:
            assert proc.returncode == 0, proc.stderr[-2000:]
            break
        outcome[current] = (f"SIGNAL {proc.returncode}", proc.stderr.strip()[-300:])
        start = paths.index(current) + 1
    return outcome


@pytest.mark.parametrize("artifact,n,seed", [("tiny_int8.tflite", 120, 1), ("tiny_fp32.tflite", 60, 2),
                                             ("tiny_fp32.onnx", 60, 3), ("tiny_int8.onnx", 40, 4)])
def test_mutated_artifacts_fail_cleanly(tiny_export, tmp_path, artifact, n, seed):
    paths = _mutants(tiny_export / artifact, tmp_path, n, seed)
    outcome = _run_all(paths, tmp_path)
    bad = {Path(p).name: o for p, o in outcome.items() if o[0] not in ("OK", "ERR")}
    assert not bad, bad
    assert len(outcome) == n
    kinds = [o[0] for o in outcome.values()]
    assert kinds.count("ERR") > n // 4  # most mutants are caught
