#!/usr/bin/env python3
"""README's results table, generated from the results files it reports (never typed by hand).

Each cell is read from the committed JSON that measured it: the export manifests (sizes, the float
accuracy), the reference models' ``shifts_int8.json`` (close-ups and worst camera shift: one evaluation
with today's code, where the manifest's int8 figure dates from the export and a camera model's hand
search has improved since), the scene
evaluations (``benchmarks/results/scenes``) and the benchmark (LiteRT p50). ``tests/test_readme.py``
fails when README's table differs from what this prints.

    python benchmarks/readme_table.py           # print the table
    python benchmarks/readme_table.py --write   # replace the table in README.md
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BENCH = ROOT / "benchmarks" / "results" / "bench" / "x86_64-2core-epyc-avx2.json"
HANDS = ROOT / "asl_edge" / "runtime" / "assets" / "hands"
HEADER = ("| reference model (`make models`) | int8 TFLite | close-ups | worst camera shift | scene frames "
          "| LiteRT p50, 1 thread |\n|---|---|---|---|---|---|")


@dataclass(frozen=True)
class Row:
    """One reference model of the table and the files its figures come from."""

    recipe: str
    scenes: str  # benchmarks/results/scenes/<file>: the model on the scene frames
    scene_note: str  # what the model sees of a scene frame
    latency: str  # what one timed call covers


ROWS = (
    Row("fast", "fast.json", " (whole frame)", "per image"),
    Row("camera", "camera.json", "", "per 320x240 frame (localiser + classifier)"),
)


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


def _int8(manifest: dict) -> dict:
    return next(a for a in manifest["artifacts"] if a["format"] == "tflite_int8")


def _p50(bench: dict, artifact: str, localises: bool) -> float:
    """LiteRT p50 at one thread of the int8 artifact (with its hand localiser, for a camera model)."""
    rows = [r for r in bench["results"] if r.get("device") == "cpu" and r.get("threads") == 1
            and r["artifact"].startswith(artifact) and r["runtime"].startswith("litert")
            and ("localiser" in r["artifact"]) == localises]
    (row,) = rows
    return row["latency_ms"]["p50"]


def row_cells(row: Row) -> list[str]:
    from asl_edge.runtime.shifts import get_shift

    name = f"asl-digits-{row.recipe}"
    manifest = _json(ROOT / "export" / name / "manifest.json")
    int8 = _int8(manifest)
    shifts = _json(ROOT / "models" / name / "shifts_int8.json")
    scenes = _json(ROOT / "benchmarks" / "results" / "scenes" / row.scenes)
    localises = bool(manifest["preprocessing"].get("localiser"))
    size = f"{int8['size_bytes'] / 1024:.1f} KB"
    if localises:
        hands = sum(p.stat().st_size for p in HANDS.glob("*.tflite"))
        size += f" + {hands / 2**20:.1f} MB hand models"
    close_ups = f"**{shifts['accuracy']:.2%}**"
    if not localises:  # the float model reads the same close-ups; a camera model's float is its manifest's
        close_ups += f" (float {manifest['float_accuracy']:.2%})"
    worst = shifts["worst_shift"]
    ms = _p50(_json(BENCH), int8["path"], localises)
    return [f"`{row.recipe}` (`export/{name}`)", size, close_ups,
            f"{worst['accuracy']:.1%} ({get_shift(worst['name']).description})",
            f"{scenes['accuracy']:.2%}{row.scene_note}",
            f"{ms:.3f} ms {row.latency}" if ms < 1 else f"{ms:.1f} ms {row.latency}"]


def table() -> str:
    return HEADER + "\n" + "\n".join("| " + " | ".join(row_cells(r)) + " |" for r in ROWS)


def table_in(readme: str) -> tuple[int, int]:
    """Where the table sits in README's text: (start, end) character offsets."""
    start = readme.index(HEADER.split("\n")[0])
    end = readme.find("\n\n", start)
    return start, len(readme) if end < 0 else end


def main(argv: list[str]) -> int:
    text = table()
    if "--write" in argv:
        readme = README.read_text()
        start, end = table_in(readme)
        README.write_text(readme[:start] + text + readme[end:])
        print(f"wrote the results table into {README}", file=sys.stderr)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
