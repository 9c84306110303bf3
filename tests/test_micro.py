"""Below the Pi: TFLite Micro bundles, the arena search, TFLM against LiteRT, Vela compiles, int4 weights."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asl_edge.data.runs import run_dataset
from asl_edge.export import int4, micro, npu
from asl_edge.runtime import micro as tflm
from asl_edge.runtime import runfolder
from asl_edge.runtime.errors import ConfigError, ExportError, ModelError
from asl_edge.runtime.formats import export_formats, get_format
from asl_edge.runtime.integrity import verify_export_dir

# Every full-integer TFLite of the format table gets a TFLite Micro bundle.
MICRO_FORMATS = [f for f in export_formats() if f.family == "tflite" and f.full_integer]
ASL_EDGE = [sys.executable, "-m", "asl_edge"]


def manifest_of(export_dir):
    return json.loads((export_dir / "manifest.json").read_text())


def artifact_bytes(export_dir, fmt):
    entry = next(a for a in manifest_of(export_dir)["artifacts"] if a["format"] == fmt.name)
    return (export_dir / entry["path"]).read_bytes(), entry


def held_out(tiny_run):
    test = run_dataset(runfolder.load_run(tiny_run), part="test")
    return test.preprocessing.normalize(test.load_images()), test.labels


@settings(max_examples=25, deadline=None)
@given(st.binary(min_size=1, max_size=300))
def test_c_array_round_trips_to_the_same_bytes(data):
    text = micro.source_text("m_model", "model_micro.h", data)
    assert micro.parse_c_array(text, "m_model") == data
    assert f"const unsigned int m_model_len = {len(data)};" in text
    assert "alignas(16) const unsigned char m_model[]" in text


def test_a_c_array_whose_length_disagrees_is_refused():
    text = micro.source_text("m", "m.h", b"\x01\x02\x03").replace("m_len = 3", "m_len = 4")
    with pytest.raises(ModelError, match="holds 3 bytes but m_len says 4"):
        micro.parse_c_array(text, "m")


@pytest.mark.parametrize(("op", "method"), [("CONV_2D", "AddConv2D"), ("DEPTHWISE_CONV_2D", "AddDepthwiseConv2D"),
                                            ("FULLY_CONNECTED", "AddFullyConnected"), ("MAX_POOL_2D", "AddMaxPool2D"),
                                            ("HARD_SWISH", "AddHardSwish"), ("MEAN", "AddMean"),
                                            ("L2_NORMALIZATION", "AddL2Normalization")])
def test_resolver_methods_follow_tflm_names(op, method):
    assert micro.resolver_method(op) == method


@pytest.mark.parametrize(("stem", "ident"), [("asl-digits-fast_int8", "asl_digits_fast_int8"),
                                             ("3d model", "m_3d_model")])
def test_c_identifiers_are_valid(stem, ident):
    assert micro.c_identifier(stem) == ident


@pytest.mark.parametrize("fmt", MICRO_FORMATS, ids=lambda f: f.name)
def test_arena_search_finds_the_boundary(tiny_export, fmt):
    buf, _ = artifact_bytes(tiny_export, fmt)
    arena = tflm.find_arena(buf)
    assert tflm.fits(buf, arena) and not tflm.fits(buf, arena - 1)
    assert tflm.recommended_arena(arena, buf) >= arena + tflm.ARENA_MARGIN_BYTES
    assert tflm.recommended_arena(arena, buf) % tflm.ARENA_ALIGNMENT == 0


def test_arena_search_refuses_a_model_that_never_fits(tiny_export):
    buf, _ = artifact_bytes(tiny_export, get_format("tflite_int8"))
    with pytest.raises(ModelError, match="cannot run this model"):
        tflm.find_arena(buf, upper=tflm.find_arena(buf) - 1)
    assert not tflm.fits(buf, 0)  # below the floor: refused without asking TFLM (it crashes there)


@pytest.mark.parametrize("fmt", MICRO_FORMATS, ids=lambda f: f.name)
def test_tflm_agrees_with_litert_on_the_held_out_images(tiny_export, tiny_run, fmt):
    buf, entry = artifact_bytes(tiny_export, fmt)
    x, y = held_out(tiny_run)
    result = tflm.compare_with_litert(buf, tflm.find_arena(buf), x, y)
    assert result["images"] == len(y) > 0
    assert result["max_lsb_diff"] <= micro.MAX_LSB_DIFF and result["top1_agreement"] == 1.0
    # TFLM's labels score what the export's own LiteRT verification scored
    assert result["accuracy_tflm"] == pytest.approx(entry["accuracy"])


@pytest.mark.parametrize("fmt", MICRO_FORMATS, ids=lambda f: f.name)
def test_export_writes_a_bundle_per_full_integer_artifact(tiny_export, tiny_run, fmt):
    buf, entry = artifact_bytes(tiny_export, fmt)
    bundle = next(m for m in manifest_of(tiny_export)["micro"] if m["artifact"] == entry["path"])
    assert bundle["status"] == "ok" and bundle["flash_bytes"] == len(buf)
    source = (tiny_export / bundle["source"]).read_text()
    header = (tiny_export / bundle["header"]).read_text()
    assert micro.parse_c_array(source, bundle["c_name"]) == buf  # the array is the artifact, byte for byte
    c = micro.camel(bundle["c_name"])
    assert f"constexpr int k{c}ArenaBytes = {bundle['arena']['recommended_bytes']};" in header
    assert f"constexpr int k{c}OpCount = {len(bundle['operators'])};" in header
    assert all(f"resolver.{m}()" in header for m in bundle["resolver"])
    assert '{"dark", "mid", "bright"}' in header
    v = bundle["verification"]
    assert v["images"] == len(held_out(tiny_run)[1]) and v["max_lsb_diff"] <= micro.MAX_LSB_DIFF
    assert bundle["operators"] == tflm.operators(buf)


def test_header_states_the_input_quantisation(tiny_export):
    buf, entry = artifact_bytes(tiny_export, get_format("tflite_int8"))
    bundle = next(m for m in manifest_of(tiny_export)["micro"] if m["artifact"] == entry["path"])
    header = (tiny_export / bundle["header"]).read_text()
    q = entry["input"]["quantization"]
    c = micro.camel(bundle["c_name"])
    assert f"k{c}InputZeroPoint = {q['zero_point']};" in header
    scale = float(header.split(f"k{c}InputScale = ")[1].split("f;")[0])
    assert scale == pytest.approx(q["scale"], rel=1e-6)
    assert f"k{c}InputHeight = 16;" in header and f"k{c}InputChannels = 3;" in header


def test_vela_compile_reports_its_figures(tiny_export):
    (entry,) = manifest_of(tiny_export)["npu"]
    f = entry["figures"]
    assert entry["accelerator"] == "ethos-u55-128" and entry["kind"] == "compiled estimate"
    assert f["npu_operators"] > 0 and f["cpu_operators"] == 0 and entry["all_on_npu"]
    assert f["inferences_per_second"] > 0 and f["cycles_total"] > 0 and f["sram_memory_bytes"] > 0
    # inferences/s is the clock over the cycles, as Vela defines it
    assert f["inferences_per_second"] == pytest.approx(f["core_clock"] / f["cycles_total"], rel=1e-3)
    compiled = tiny_export / entry["path"]
    assert compiled.stat().st_size == entry["size_bytes"] and compiled.read_bytes()[4:8] == b"TFL3"


def test_vela_summary_parses_operator_counts():
    csv_text = "system_config,core_clock,inferences_per_second,cycles_total,sram_memory_used\nX,5e8,100.0,5e6,2.5\n"
    out = npu.parse_summary(csv_text, "Network summary\nCPU operators = 2 (5.0%)\nNPU operators = 38 (95.0%)\n")
    assert (out["cpu_operators"], out["npu_operators"], out["sram_memory_bytes"]) == (2, 38, 2560)
    with pytest.raises(Exception, match="operator counts"):
        npu.parse_summary(csv_text, "no counts here")


def test_an_unknown_accelerator_is_refused_with_the_choices():
    from asl_edge.export import ExportConfig

    with pytest.raises(ConfigError, match="ethos-u55-128"):
        ExportConfig(npu=("ethos-u99",))


def test_bundle_and_compile_are_verified_files(tiny_export, tmp_path):
    import shutil

    m = manifest_of(tiny_export)
    bundle = [f["path"] for b in m["micro"] for f in b["files"]] + [n["path"] for n in m["npu"]]
    rows = {name: ok for name, ok, _ in verify_export_dir(tiny_export)}
    assert set(bundle) <= set(rows) and all(rows.values())
    copy = tmp_path / "copy"
    shutil.copytree(tiny_export, copy)
    with open(copy / bundle[0], "a") as f:  # one byte more in the C source
        f.write("\n")
    rows = {name: (ok, why) for name, ok, why in verify_export_dir(copy)}
    assert rows[bundle[0]][0] is False and "size" in rows[bundle[0]][1]


def test_int4_is_smaller_than_int8_and_runs(tiny_export):
    _, int8 = artifact_bytes(tiny_export, get_format("tflite_int8"))
    _, int4 = artifact_bytes(tiny_export, get_format("tflite_int4"))
    assert int4["size_bytes"] < int8["size_bytes"] and int4["status"] == "ok"
    assert int4["input"]["dtype"] == "int8"


def _layout_types(layout, n_convs):
    keep = layout.int8_positions(n_convs)
    return ["INT8" if i in keep else "INT4" for i in range(n_convs)]


def test_the_int4_artifact_follows_the_default_layout(tiny_export):
    buf, _ = artifact_bytes(tiny_export, get_format("tflite_int4"))
    types = int4.conv_weight_types(buf)
    assert types == _layout_types(int4.get_layout(), len(types))
    assert "INT4" in types and "INT8" in types  # the tiny model has convolutions of both kinds


@pytest.mark.parametrize("name", list(int4.LAYOUTS))
def test_each_int4_layout_writes_its_kernels_as_it_says(tiny_export, tiny_run, name):
    fp32, _ = artifact_bytes(tiny_export, get_format("tflite_fp32"))
    int8, _ = artifact_bytes(tiny_export, get_format("tflite_int8"))
    x, _ = held_out(tiny_run)
    buf = int4.quantize_int4(fp32, x, int4.LAYOUTS[name], int8)
    types = int4.conv_weight_types(buf)
    assert len(types) >= 3 and types == _layout_types(int4.LAYOUTS[name], len(types))
    # the classifier's dense layer stays int8 in every layout (TFLite Micro takes no int4 there)
    assert {dtype for op, _, dtype in int4._ops(buf) if op == "FULLY_CONNECTED"} == {"INT8"}


def test_int4_layout_positions_count_from_either_end():
    from dataclasses import replace

    layout = int4.Int4Layout("x", (0, 1, -2, 9))
    assert layout.int8_positions(5) == {0, 1, 3}
    # the last convolution stays int4 however shallow the model
    assert layout.int8_positions(3) == {0, 1} and layout.int8_positions(1) == set()
    ends = replace(layout, int8_convs=(0, -1))
    assert ends.int8_positions(3) == {0} and replace(ends, last_int4=False).int8_positions(3) == {0, 2}
    with pytest.raises(ExportError, match="first-int8"):
        int4.get_layout("no-such-layout")


def test_cli_refuses_a_bad_accelerator_in_one_line(tiny_run, tmp_path):
    proc = subprocess.run([*ASL_EDGE, "export", str(tiny_run), "--npu", "ethos-u99", "--out", str(tmp_path / "x")],
                          capture_output=True, text=True)
    assert proc.returncode != 0 and proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("asl-edge: error:") and "ethos-u55-128" in proc.stderr
    assert not (tmp_path / "x").exists()


def test_export_names_the_extra_when_it_is_missing(monkeypatch):
    import importlib.util
    import re

    from asl_edge.cli.common import MICRO_MODULES, need_extra
    from asl_edge.runtime.errors import MissingDependencyError
    from asl_edge.runtime.extras import install_hint
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "tflite_micro" else real(name, *a))
    with pytest.raises(MissingDependencyError, match=re.escape(install_hint("micro"))):
        need_extra("micro", *MICRO_MODULES["micro"])


def test_cmsis_scratch_counts_the_widest_convolution(tiny_export):
    buf, _ = artifact_bytes(tiny_export, get_format("tflite_int8"))
    # the tiny edge CNN: 3x3 kernels, widest input 8 channels (width 4, doubled once)
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(buf, 0)
    graph = model.Subgraphs(0)
    ins = [graph.Tensors(graph.Operators(i).Inputs(1)).ShapeAsNumpy() for i in range(graph.OperatorsLength())
           if model.OperatorCodes(graph.Operators(i).OpcodeIndex()).BuiltinCode() == schema.BuiltinOperator.CONV_2D]
    assert tflm.cmsis_scratch_bytes(buf) == max(4 * int(w[1] * w[2] * w[3]) for w in ins) > 0
    assert np.all([len(w) == 4 for w in ins])


@pytest.mark.skipif(__import__("shutil").which("g++") is None, reason="no C++ compiler on this machine")
def test_bundle_compiles_and_its_array_is_the_model(tiny_export, tmp_path):
    """The C++ a board build would compile: the array's bytes and length, the op registration."""
    buf, entry = artifact_bytes(tiny_export, get_format("tflite_int8"))
    bundle = next(m for m in manifest_of(tiny_export)["micro"] if m["artifact"] == entry["path"])
    stub = tmp_path / "tensorflow" / "lite" / "c"
    stub.mkdir(parents=True)
    (stub / "common.h").write_text("#pragma once\ntypedef enum { kTfLiteOk = 0, kTfLiteError = 1 } TfLiteStatus;\n")
    c, ident = micro.camel(bundle["c_name"]), bundle["c_name"]
    methods = "\n".join(f'  TfLiteStatus {m}() {{ std::puts("{m}"); return kTfLiteOk; }}' for m in bundle["resolver"])
    (tmp_path / "main.cc").write_text(f"""#include <cstdio>
#include "{bundle['header']}"
struct Resolver {{
{methods}
}};
int main() {{
  Resolver r;
  if (Register{c}Ops(r) != kTfLiteOk) return 1;
  std::printf("len %u arena %d labels %d\\n", {ident}_len, k{c}ArenaBytes, k{c}LabelCount);
  for (unsigned i = 0; i < {ident}_len; ++i) std::printf("%02x", {ident}[i]);
  std::printf("\\n%d\\n", (int)(reinterpret_cast<unsigned long>({ident}) % 16));
  return 0;
}}
""")
    exe = tmp_path / "bundle"
    subprocess.run(["g++", "-std=c++17", "-Wall", "-Werror", f"-I{tmp_path}", f"-I{tiny_export}", "-o", str(exe),
                    str(tmp_path / "main.cc"), str(tiny_export / bundle["source"])], check=True, capture_output=True)
    lines = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.splitlines()
    assert lines[:len(bundle["resolver"])] == bundle["resolver"]
    summary, hexed, aligned = lines[len(bundle["resolver"]):]
    assert summary == f"len {len(buf)} arena {bundle['arena']['recommended_bytes']} labels 3"
    assert bytes.fromhex(hexed) == buf and aligned == "0"
