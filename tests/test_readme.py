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
