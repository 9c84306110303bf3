"""README's promises that can be run: the plain-LiteRT example of "Artifact metadata"."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()


def _block(after: str) -> str:
    section = README[README.index(after):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_metadata_example_runs_an_artifact_without_asl_edge_and_agrees_with_predict(tiny_export, tmp_path):
    from asl_edge.runtime.predict import load_predictor

    code = _block("## Artifact metadata")
    assert "import asl_edge" not in code and "from asl_edge" not in code
    artifact = next(tiny_export.glob("*_int8.tflite"))
    predictor = load_predictor(artifact)
    rng = np.random.default_rng(0)
    for i, level in enumerate((20, 120, 230)):
        photo = tmp_path / f"photo{i}.jpg"
        Image.fromarray(np.clip(rng.normal(level, 10, (48, 40, 3)), 0, 255).astype(np.uint8)).save(photo)
        script = code.replace("export/asl-digits-fast/asl-digits-fast_int8.tflite", str(artifact)).replace(
            "photo.jpg", str(photo))
        r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
        assert r.returncode == 0, r.stderr[-1500:]
        label, prob = r.stdout.split()
        ((want, want_prob),) = predictor.top_k(predictor.preprocessing.load(photo)[None], 1)[0:1][0][:1]
        assert label == want and float(prob) == pytest.approx(want_prob, abs=1e-6)


def test_metadata_example_names_the_committed_artifact():
    assert (REPO / "export" / "asl-digits-fast" / "asl-digits-fast_int8.tflite").is_file()


def test_results_table_is_the_one_its_results_files_give():
    """Every figure of README's results table is read from the JSON that measured it
    (benchmarks/readme_table.py; `--write` puts a regenerated table in place)."""
    from conftest import load_script

    readme_table = load_script("benchmarks/readme_table.py")
    start, end = readme_table.table_in(README)
    assert README[start:end] == readme_table.table()


def test_every_figure_of_the_results_table_changes_when_its_file_does(monkeypatch):
    """The generator reads each cell from its file: a changed figure in a results file changes the table."""
    import json

    from conftest import load_script

    readme_table = load_script("benchmarks/readme_table.py")
    before = readme_table.table()
    real = readme_table._json

    def shifted(path):
        doc = real(path)
        if path.name == "manifest.json":
            for a in doc["artifacts"]:
                a["size_bytes"] += 2048
            doc["float_accuracy"] -= 0.02
        elif path.name == "shifts_int8.json":
            doc["accuracy"] -= 0.01
            doc["worst_shift"]["accuracy"] -= 0.1
        elif "scenes" in path.parts:
            doc["accuracy"] -= 0.01
        elif path == readme_table.BENCH:
            for r in doc["results"]:
                r["latency_ms"]["p50"] *= 2
        return json.loads(json.dumps(doc))

    monkeypatch.setattr(readme_table, "_json", shifted)
    after = readme_table.table()
    for old, new in zip(before.splitlines()[2:], after.splitlines()[2:]):
        changed = [a != b for a, b in zip(old.split(" | ")[1:], new.split(" | ")[1:])]
        assert all(changed), (old, new)
