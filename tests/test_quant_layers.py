"""The per-layer int8 report and the mixed int8 artifacts, on a tiny model with one hard layer.

The tiny run's model is edited so that ``conv2d_2`` cannot be quantised: one of its input channels
is dead (``conv2d_1`` gives it a bias of -100, so ReLU6 always outputs 0 there) and ``conv2d_2``
multiplies it by 1e4. The float model does not change, but every per-channel int8 weight scale of
``conv2d_2`` is set by the 1e4 and its real weights round to zero, so full int8 predicts one class.
"""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from asl_edge.export import ExportConfig, export_run
from asl_edge.export.layers import REPORT_CSV, REPORT_JSON, layers_in_name, search_mixed
from asl_edge.runtime.formats import export_formats, format_for_path, get_format, selected_formats
from asl_edge.runtime.integrity import verify_export_dir
from asl_edge.runtime.metadata import read_metadata

HARD = "conv2d_2"
MAX_DROP = 5.0
MIXED = [f for f in export_formats() if f.precision == "int8_mixed"]


@pytest.fixture(scope="module")
def hard_run(tiny_run, tmp_path_factory):
    from asl_edge.models import io as model_io

    folder = tmp_path_factory.mktemp("hard") / "hard"
    shutil.copytree(tiny_run, folder)
    model = model_io.load_keras_model(folder / "model.keras")
    feeder, hard = model.get_layer("conv2d_1"), model.get_layer(HARD)
    k, b = feeder.get_weights()
    b[0] = -100.0  # channel 0 of conv2d_1 is now always 0 after ReLU6
    feeder.set_weights([k, b])
    k, b = hard.get_weights()
    k[:, :, 0, :] = 1e4  # ... and conv2d_2 weighs it by 1e4: no change in float, ruin in int8
    hard.set_weights([k, b])
    model.save(folder / "model.keras")
    return folder


@pytest.fixture(scope="module")
def hard_export(hard_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("hard_export") / "x"
    export_run(hard_run, ExportConfig(int8=True, calib_samples=20, max_drop=MAX_DROP, layer_report=True), out)
    return out


def manifest_of(folder):
    return json.loads((folder / "manifest.json").read_text())


def test_report_ranks_the_hard_layer_first(hard_export):
    doc = json.loads((hard_export / REPORT_JSON).read_text())
    rows = doc["layers"]
    assert rows[0]["layer"] == HARD and rows[0]["rank"] == 1
    assert rows[0]["nsr"] > 3 * rows[1]["nsr"]
    assert [r["nsr"] for r in rows] == sorted((r["nsr"] for r in rows), reverse=True)
    assert {r["layer"] for r in rows} >= {"conv2d", "conv2d_1", "conv2d_2", "probabilities"}
    assert abs(sum(r["macs_share"] for r in rows) - 1) < 1e-6 and abs(sum(r["size_share"] for r in rows) - 1) < 1e-6
    assert rows[0]["fused"] == ["re_lu_2"]
    csv_lines = (hard_export / REPORT_CSV).read_text().splitlines()
    assert csv_lines[0].startswith("rank,layer,kind,nsr") and csv_lines[1].split(",")[1] == HARD
    assert manifest_of(hard_export)["layer_report"]["worst"][0] == HARD


@pytest.mark.parametrize("fmt", MIXED, ids=lambda f: f.name)
def test_mixed_artifact_keeps_exactly_the_hard_layer_and_meets_the_drop(hard_export, fmt):
    m = manifest_of(hard_export)
    full = next(a for a in m["failed"] if a["family"] == fmt.family and a["precision"] == "int8")
    assert full["accuracy_drop_pp"] > MAX_DROP
    mixed = next(a for a in m["artifacts"] if a["format"] == fmt.name)
    assert full["replaced_by"] == mixed["path"]
    assert mixed["float_layers"] == [HARD] and mixed["status"] == "ok"
    assert mixed["accuracy_drop_pp"] <= MAX_DROP
    assert mixed["mixed"]["size_bytes"] > 0 and mixed["full_int8"]["size_bytes"] > 0
    path = hard_export / mixed["path"]
    assert format_for_path(path) == fmt
    assert read_metadata(path)["labels"] == m["labels"]


def test_mixed_tflite_has_only_the_hard_layer_in_float(hard_export):
    from ai_edge_litert.interpreter import Interpreter

    path = next(hard_export.glob("*_int8_mixed.tflite"))
    interp = Interpreter(model_path=str(path))
    tensors = {t["index"]: t for t in interp.get_tensor_details()}
    float_ops = {}
    for op in interp._get_ops_details():
        if op["op_name"] in ("CONV_2D", "FULLY_CONNECTED"):
            out = tensors[op["outputs"][0]]
            layer = layers_in_name(out["name"], {"conv2d", "conv2d_1", "conv2d_2", "probabilities"})[-1]
            float_ops[layer] = all(tensors[i]["dtype"] == np.float32 for i in [*op["inputs"], *op["outputs"]] if i >= 0)
    assert float_ops == {"conv2d": False, "conv2d_1": False, "conv2d_2": True, "probabilities": False}
    assert interp.get_input_details()[0]["dtype"] == np.int8  # the same interface as the full int8 artifact


def test_mixed_onnx_excludes_only_the_hard_layer(hard_export):
    import onnx

    m = manifest_of(hard_export)
    mixed = next(a for a in m["artifacts"] if a["format"] == "onnx_int8_mixed")
    assert mixed["onnx_nodes_excluded"] == ["edge_cnn/conv2d_2/BiasAdd"]
    graph = onnx.load(str(hard_export / mixed["path"])).graph
    conv = {n.name: n for n in graph.node if n.op_type == "Conv"}
    weight_of = {name: n.input[1] for name, n in conv.items()}
    assert not weight_of["edge_cnn/conv2d_2/BiasAdd"].endswith("DequantizeLinear_Output")
    # ... and reads the float activation in front of the Q/DQ pair (else ONNX Runtime's
    # WeightBiasQuantization transformer quantises its weights again when the session loads)
    assert not conv["edge_cnn/conv2d_2/BiasAdd"].input[0].endswith("DequantizeLinear_Output")
    assert all(w.endswith("DequantizeLinear_Output") for n, w in weight_of.items() if "conv2d_2" not in n)


def test_export_with_mixed_artifacts_verifies_and_succeeds_on_the_command_line(hard_run, hard_export, tmp_path):
    assert all(ok for _, ok, _ in verify_export_dir(hard_export))
    out = tmp_path / "cli"
    r = subprocess.run([sys.executable, "-m", "asl_edge", "export", str(hard_run), "--int8", "--layer-report",
                        "--max-drop", str(MAX_DROP), "--calib-samples", "20", "--formats", "tflite", "--out", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "int8 error per Keras layer" in r.stdout
    assert any(line.split()[:2] == ["1", HARD] for line in r.stdout.splitlines() if line.strip())
    assert "1 layer in float (conv2d_2)" in r.stdout


def test_full_int8_within_the_drop_stays_and_no_mixed_is_written(tiny_run, tmp_path):
    m = export_run(tiny_run, ExportConfig(int8=True, calib_samples=20, max_drop=100.0, families=("tflite",)),
                   tmp_path / "ok")
    assert "layer_report" not in m and not list((tmp_path / "ok").glob("*mixed*"))
    assert {a["format"] for a in m["artifacts"]} == {"tflite_fp32", "tflite_int8"}


def test_mixed_rows_are_never_selected_by_flags():
    assert all(f.precision != "int8_mixed" for f in selected_formats(("tflite", "onnx"), ("int8", "fp16", "dynamic")))
    assert get_format("tflite_int8_mixed").quantized and get_format("onnx_int8_mixed").extension == ".onnx"
    assert format_for_path("m_int8_mixed.tflite").name == "tflite_int8_mixed"
    assert format_for_path("m_int8.tflite").name == "tflite_int8"


def test_layer_report_flag_implies_int8_and_the_report_knows_the_kind():
    from asl_edge.export.layers import REPORT_KIND
    from asl_edge.report.inputs import LAYER_REPORT_KIND

    assert "int8" in ExportConfig(layer_report=True).flags
    assert LAYER_REPORT_KIND == REPORT_KIND


def test_names_map_to_the_deepest_keras_layer():
    names = {"mobilenetv2", "block_1_depthwise", "block_1_depthwise_BN", "re_lu"}
    name = "m/mobilenetv2/block_1_depthwise/depthwise;m/mobilenetv2/block_1_depthwise_BN/FusedBatchNormV3"
    assert layers_in_name(name, names) == ["block_1_depthwise", "block_1_depthwise_BN"]
    assert layers_in_name("StatefulPartitionedCall:0", names) == []


def test_search_finds_the_shortest_prefix():
    ranked = [f"l{i}" for i in range(10)]
    calls = []

    def acc(keep):
        calls.append(len(keep))
        return 0.9 if len(keep) >= 5 else 0.5

    r = search_mixed(ranked, acc, 0.9, 1.0)
    assert r.float_layers == tuple(ranked[:5]) and r.met and len(calls) <= 6
    miss = search_mixed(ranked, lambda keep: 0.0, 0.9, 1.0)
    assert not miss.met and miss.float_layers == tuple(ranked)


def test_report_shows_the_layer_report_worst_first(hard_export, tmp_path):
    from asl_edge.report import load_inputs, render

    docs, side = load_inputs([hard_export / REPORT_JSON])
    md, _ = render(docs, tmp_path / "report", side)
    text = md.read_text()
    assert "int8 error per layer" in text
    rows = [line for line in text.splitlines() if line.startswith("| 1 ")]
    assert rows and HARD in rows[0]
    assert "tflite_int8_mixed" in text and "onnx_int8_mixed" in text


def test_search_that_cannot_meet_the_drop_writes_no_mixed_artifact(hard_run, tmp_path):
    config = ExportConfig(int8=True, calib_samples=20, families=("tflite",))
    object.__setattr__(config, "max_drop", -1.0)  # a drop no search can meet (the CLI refuses negatives)
    m = export_run(hard_run, config, tmp_path / "miss")
    assert not [a for a in m["artifacts"] + m["failed"] if a["precision"] == "int8_mixed"]
    miss = m["layer_report"]["mixed_not_found"]["tflite"]
    assert miss["search"]["met"] is False and miss["search"]["trials"]
    assert not next(a for a in m["failed"] if a["format"] == "tflite_int8").get("replaced_by")


@pytest.mark.parametrize("fmt", MIXED, ids=lambda f: f.name)
def test_mixed_artifacts_evaluate_without_tensorflow(hard_export, tiny_npz, fmt):
    """The runtime-only install (a Pi) runs the mixed artifacts: float islands need no TensorFlow."""
    no_tf = ("import sys; sys.modules.update({m: None for m in ('tensorflow', 'tf_keras', 'keras')}); "
             "from asl_edge.cli import main; main()")
    path = next(hard_export.glob(f"*{fmt.suffix}"))
    r = subprocess.run([sys.executable, "-c", no_tf, "evaluate", str(path), "--data", str(tiny_npz), "--json"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout)["accuracy"] >= 0.9


def test_qat_model_falls_back_to_the_float_model_for_report_and_search(hard_run, tmp_path):
    m = export_run(hard_run, ExportConfig(qat=True, epochs=1, calib_samples=20, max_drop=MAX_DROP, layer_report=True,
                                          families=("tflite",)), tmp_path / "qat")
    assert m["layer_report"]["worst"][0] == HARD and m["layer_report"]["source"].startswith("float model")
    mixed = next(a for a in m["artifacts"] if a["format"] == "tflite_int8_mixed")
    assert mixed["float_layers"] == [HARD] and mixed["accuracy_drop_pp"] <= MAX_DROP
