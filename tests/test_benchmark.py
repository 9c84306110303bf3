"""Benchmark on a tiny export: structure and sane values (never timings), "not measured" rows
instead of crashes, the JSON round trip, the MAC count, and the ARM64 check's comparison."""

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import load_script

from asl_edge.bench import BenchConfig, load_results, machine, run_benchmark, save_results
from asl_edge.bench.macs import count_macs
from asl_edge.runtime.errors import DataError

FAST = {"runs": 5, "warmup": 2, "batch": 8, "rounds": 2}


@pytest.fixture(scope="module")
def results(tiny_export):
    return run_benchmark([tiny_export], BenchConfig(threads=(1, 2), **FAST))


def test_rows_for_every_artifact_runtime_and_thread_count(results, tiny_export):
    manifest = json.loads((tiny_export / "manifest.json").read_text())
    cpu = [r for r in results["results"] if r["device"] == "cpu"]
    assert all(r["status"] == "ok" for r in cpu), [r["status"] for r in cpu if r["status"] != "ok"]
    # manifest order, after the source Keras model; one row per thread count
    expected = ["model.keras"] + [a["path"] for a in manifest["artifacts"]]
    assert [r["artifact"] for r in cpu] == [name for name in expected for _ in (1, 2)]
    assert [r["threads"] for r in cpu] == [1, 2] * len(expected)
    sizes = {a["path"]: (a["size_bytes"], a["size_gzip_bytes"]) for a in manifest["artifacts"]}
    for r in cpu:
        lat = r["latency_ms"]
        assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] and lat["mean"] > 0
        # each row's accuracy is the manifest's for that artifact on the same held-out images
        expected_acc = {a["path"]: a["accuracy"] for a in manifest["artifacts"]}
        expected_acc["model.keras"] = manifest["source"]["accuracy"]
        assert r["accuracy"] == pytest.approx(expected_acc[r["artifact"]], abs=1e-6)
        assert r["includes_training_images"] is False and r["num_samples"] == manifest["evaluation"]["samples"]
        assert r["throughput_ips"] > 0 and r["load_ms"] >= 0 and r["peak_rss_mb"] > 0
        assert r["runtime"] == {"keras": "keras", "tflite": "litert", "onnx": "onnxruntime"}[r["format"].split("_")[0]]
        if r["artifact"] in sizes:
            assert (r["size_bytes"], r["size_gzip_bytes"]) == sizes[r["artifact"]]
    assert len({int(np.sum(r["confusion_matrix"])) for r in cpu}) == 1  # every row saw the same images
    for r in cpu:  # the best of the rounds: the lowest p50 and the highest throughput
        assert len(r["rounds"]) == FAST["rounds"]
        assert r["latency_ms"]["p50"] == min(x["p50"] for x in r["rounds"])
        assert r["throughput_ips"] == max(x["throughput_ips"] for x in r["rounds"])
    assert results["data"]["sets"] == [f"held-out signers of {manifest['evaluation']['split']['source']}: "
                                       f"{manifest['evaluation']['samples']} images"]
    assert results["labels"]["model.keras"] == ["dark", "mid", "bright"]
    assert results["machine"]["cores"] >= 1 and results["machine"]["arch"]


@pytest.mark.skipif(machine.gpu_name() is not None, reason="this machine has a GPU")
def test_gpu_rows_only_where_a_gpu_is_or_when_asked(results, tiny_export):
    assert not [r for r in results["results"] if r["device"] == "gpu"]  # default: no GPU here, no GPU rows
    files = sorted(tiny_export.glob("*_fp32.*"))
    doc = run_benchmark(files, BenchConfig(**{**FAST, "rounds": 1, "gpu": True}))
    gpu = [r for r in doc["results"] if r["device"] == "gpu"]
    assert len(gpu) == len(files)
    assert all(r["status"] == "not measured: no GPU" and r["latency_ms"] is None for r in gpu)


def test_gpu_present_but_no_gpu_runtime_is_a_row_not_a_crash(tiny_export, monkeypatch):
    """With a GPU but no CUDA provider/GPU delegate installed, the GPU rows say why."""
    monkeypatch.setattr(machine, "gpu_name", lambda *a: "Fake GPU")
    files = sorted(tiny_export.glob("*_fp32.*"))
    doc = run_benchmark(files, BenchConfig(**FAST))
    gpu = {r["artifact"]: r["status"] for r in doc["results"] if r["device"] == "gpu"}
    assert set(gpu) == {f.name for f in files}
    assert all(s.startswith("not measured: ") and s != "not measured: no GPU" for s in gpu.values()), gpu


def test_missing_runtime_is_a_row_not_a_crash(tiny_export, monkeypatch):
    from asl_edge.runtime import runners as runtimes

    def no_onnxruntime(path, threads, device, **kw):
        raise runtimes.RuntimeUnavailable("ONNX Runtime is not installed: pip install onnxruntime")

    monkeypatch.setitem(runtimes._LOADERS, "onnxruntime", no_onnxruntime)
    doc = run_benchmark(sorted(tiny_export.glob("*.onnx")) + sorted(tiny_export.glob("*_fp32.tflite")),
                        BenchConfig(gpu=False, **FAST))
    onnx = [r for r in doc["results"] if r["artifact"].endswith(".onnx")]
    assert onnx and all(r["status"] == "not measured: ONNX Runtime is not installed: pip install onnxruntime"
                        for r in onnx)
    assert [r["status"] for r in doc["results"] if r["artifact"].endswith(".tflite")] == ["ok"]


def test_runtime_failing_mid_measurement_is_a_failed_row_and_the_rest_is_measured(tiny_export, monkeypatch):
    from asl_edge.runtime import runners as runtimes

    real = runtimes._LOADERS["litert"]

    def crashing(path, threads, device, **kw):
        runner = real(path, threads, device, **kw)
        runner._predict = lambda x: (_ for _ in ()).throw(RuntimeError("interpreter exploded"))
        return runner

    monkeypatch.setitem(runtimes._LOADERS, "litert", crashing)
    doc = run_benchmark(sorted(tiny_export.glob("*_fp32.*")), BenchConfig(gpu=False, **FAST))
    status = {r["artifact"].rsplit(".", 1)[1]: r["status"] for r in doc["results"]}
    assert status == {"tflite": "failed: RuntimeError: interpreter exploded", "onnx": "ok"}


def test_runtime_failing_in_a_later_round_makes_a_failed_row(tiny_export, monkeypatch):
    from asl_edge.runtime import runners as runtimes

    real, loads = runtimes._LOADERS["onnxruntime"], []

    def fails_on_second_load(path, threads, device, **kw):
        loads.append(path)
        if len(loads) > 1:
            raise RuntimeError("session lost")
        return real(path, threads, device, **kw)

    monkeypatch.setitem(runtimes._LOADERS, "onnxruntime", fails_on_second_load)
    (row,) = run_benchmark(sorted(tiny_export.glob("*_fp32.onnx")), BenchConfig(gpu=False, **FAST))["results"]
    assert row["status"] == "failed: RuntimeError: session lost" and row["latency_ms"] is None
    assert row["artifact"].endswith("_fp32.onnx") and row["size_bytes"] > 0


def test_keras_without_tensorflow_is_a_not_measured_row(tiny_run, tmp_path, monkeypatch):
    """The runtime-only install: the Keras row (measured in a process of its own) says TensorFlow is missing."""
    blocker = tmp_path / "no_tf" / "tensorflow"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('blocked for the test')\n")
    monkeypatch.syspath_prepend(str(blocker.parent))  # a spawned child starts with the parent's sys.path
    doc = run_benchmark([tiny_run / "model.keras"], BenchConfig(gpu=False, **FAST))
    (row,) = doc["results"]
    assert row["status"].startswith("not measured: ") and row["accuracy"] is None
    from asl_edge.runtime.extras import install_hint

    assert "tensorflow" in row["status"].lower() and install_hint("train") in row["status"]


def test_changed_artifact_is_refused_unless_no_verify(tiny_export, tmp_path):
    import shutil

    copy = tmp_path / "export"
    shutil.copytree(tiny_export, copy)
    target = next(copy.glob("*_int8.tflite"))
    target.write_bytes(target.read_bytes() + b"\0")  # still loadable, no longer the exported file
    refused = run_benchmark([target], BenchConfig(gpu=False, **FAST))["results"]
    assert refused[0]["status"].startswith("not measured:") and "sha256" in refused[0]["status"]
    assert run_benchmark([target], BenchConfig(gpu=False, verify=False, **FAST))["results"][0]["status"] == "ok"


def test_data_with_other_classes_is_a_row_not_garbage(tiny_export):
    # the built-in set has 10 classes, the tiny model 3
    doc = run_benchmark(sorted(tiny_export.glob("*_fp32.onnx")), BenchConfig(gpu=False, data="builtin", **FAST))
    assert "are not the artifact's labels" in doc["results"][0]["status"]


def test_json_round_trip(results, tmp_path):
    save_results(results, tmp_path / "r.json")
    assert load_results(tmp_path / "r.json") == json.loads(json.dumps(results))
    assert not list(tmp_path.glob(".*tmp*"))  # written through a temporary file, nothing left behind


@pytest.mark.parametrize("option, value", [("--threads", "a"), ("--threads", "0"), ("--runs", "0"),
                                           ("--rounds", "0"), ("--batch", "0"), ("--warmup", "-1")])
def test_bad_option_is_one_line(tiny_export, tmp_path, option, value):
    import subprocess
    import sys

    out = tmp_path / "r.json"
    r = subprocess.run(
        [sys.executable, "-m", "asl_edge", "benchmark", str(tiny_export), option, value, "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode != 0 and r.stderr.startswith("asl-edge: error:") and len(r.stderr.strip().splitlines()) == 1
    assert option in r.stderr and not out.exists()


def test_missing_path_is_one_error(tmp_path):
    with pytest.raises(DataError, match="not found"):
        run_benchmark([tmp_path / "nope.tflite"])


def _keras_macs(run_folder: Path) -> int:
    """MACs from the Keras layers' shapes, independently of the .tflite graph."""
    from asl_edge.models.io import load_keras_model

    total = 0
    for layer in load_keras_model(run_folder / "model.keras").layers:
        kind = type(layer).__name__
        if kind in ("Conv2D", "SeparableConv2D", "DepthwiseConv2D"):
            _, h, w, c_out = layer.output.shape
            c_in = layer.input.shape[-1]
            kh, kw = layer.kernel_size
            if kind == "Conv2D":
                total += h * w * c_out * kh * kw * c_in
            elif kind == "DepthwiseConv2D":
                total += h * w * c_in * kh * kw
            else:
                total += h * w * c_in * kh * kw + h * w * c_in * c_out
        elif kind == "Dense":
            total += layer.input.shape[-1] * layer.units
    return total


def test_mac_count_matches_the_keras_layers(tiny_run, tiny_export, results):
    expected = _keras_macs(tiny_run)
    manifest = json.loads((tiny_export / "manifest.json").read_text())
    tflites = [tiny_export / a["path"] for a in manifest["artifacts"] if a["path"].endswith(".tflite")]
    assert tflites
    for path in tflites:
        assert count_macs(path) == expected
    measured = [r for r in results["results"] if r["artifact"].endswith(".tflite") and r["format"] != "vela"]
    assert {r["macs"] for r in measured} == {expected}


# -- the ARM64 emulation check's comparison (benchmarks/arm64/outputs.py) ----------------------------
def _outputs_module():
    return load_script("benchmarks/arm64/outputs.py")


@pytest.fixture(scope="module")
def x86_outputs(tiny_export, tmp_path_factory):
    outputs = _outputs_module()
    work = tmp_path_factory.mktemp("arm64")
    outputs.cmd_inputs(tiny_export, work / "pixels.npy")
    outputs.cmd_predict(tiny_export, work / "pixels.npy", work / "x86.npz")
    with np.load(work / "x86.npz") as z:
        arrays = {k: z[k] for k in z.files if k != "info"}
        info = json.loads(str(z["info"]))
    return outputs, work, arrays, info


def test_arm64_comparison_passes_identical_outputs_and_fails_real_differences(tiny_export, x86_outputs):
    outputs, _, x86, info = x86_outputs
    rows = outputs.compare(tiny_export, x86, x86, info, info)
    assert rows and all(r["status"] == "pass" for r in rows)
    int8 = next(r for r in rows if r["artifact"].endswith("_int8.tflite"))
    assert int8["lsb"] > 0 and int8["max_lsb_diff"] == 0
    for name, row in ((r["artifact"], r) for r in rows):
        step = row.get("lsb") or outputs.FLOAT_TOLERANCE
        for delta, verdict in ((step, "pass"), (2.5 * step, "fail")):
            arm = {k: v.copy() for k, v in x86.items()}
            arm[name][0, 0] += delta
            (got,) = [r for r in outputs.compare(tiny_export, x86, arm, info, info) if r["artifact"] == name]
            assert got["status"].split(":")[0] == verdict, (name, delta, got)
    no_xnnpack = json.loads(json.dumps(info))
    for a in no_xnnpack["artifacts"].values():
        a["xnnpack"] = False if a["xnnpack"] else a["xnnpack"]
    statuses = [r["status"] for r in outputs.compare(tiny_export, x86, x86, info, no_xnnpack)]
    assert any("XNNPACK" in s for s in statuses)


def test_arm64_compare_writes_the_json_and_exits_1_on_a_difference(tiny_export, x86_outputs, tmp_path):
    outputs, work, x86, info = x86_outputs
    arm = {k: v + 0.01 for k, v in x86.items()}
    np.savez(tmp_path / "arm64.npz", info=np.array(json.dumps(info)), **arm)
    rc = outputs.cmd_compare(
        tiny_export, work / "pixels.npy", work / "x86.npz", tmp_path / "arm64.npz", tmp_path / "check.json",
        "qemu test", seconds=42,
    )
    doc = json.loads((tmp_path / "check.json").read_text())
    assert rc == 1 and doc["status"] == "fail" and doc["kind"] == "arm64-emulation-check"
    assert doc["check_seconds"] == 42  # what the check took, recorded beside its predictions
    assert "timings" not in json.dumps(doc["results"])
    from asl_edge.report import load_check

    assert load_check(tmp_path / "check.json")["results"]


# -- a split's part as a folder (benchmarks/split_folder.py) ---------------------------------------
def test_split_folder_writes_the_part_as_evaluate_reads_the_held_out_one(tmp_path):
    """Read back as a folder data set, the written part is the built-in set's stored pictures and labels
    at the part's indices, and only those (a signer of another part would make it another test)."""
    from asl_edge.data.builtin import load_builtin
    from asl_edge.data.loaders import load_dataset
    from asl_edge.runtime.preprocess import Preprocessing

    split = {"train": [0, 1], "val": [3, 700, 1500, 1881], "test": [2]}
    (tmp_path / "split.json").write_text(json.dumps(split))
    script = load_script("benchmarks/split_folder.py")
    assert script.main(["--split", str(tmp_path / "split.json"), "--part", "val", "--out", str(tmp_path / "v")]) == 0
    stored = load_builtin(Preprocessing())
    folder = load_dataset(tmp_path / "v", Preprocessing())

    def pictures(images, labels, class_names):  # (class, pixels) pairs, in no particular order
        return sorted((class_names[label], image.tobytes()) for image, label in zip(images, labels))

    index = split["val"]
    assert pictures(folder.load_images(), folder.labels, folder.class_names) == pictures(
        stored["images"][index], stored["labels"][index], stored["class_names"])
    assert script.main(["--split", str(tmp_path / "split.json"), "--out", str(tmp_path / "v")]) == 2  # not empty


# -- conditions beyond the shift suite (benchmarks/conditions.py) ----------------------------------
COND = load_script("benchmarks/conditions.py")


@pytest.mark.parametrize("side", COND.SIDES, ids=lambda s: s.name)
def test_side_light_falls_from_the_lit_edge_to_the_far_one(side):
    """On a flat grey frame the lit edge gets BRIGHT times the grey, the far edge DARK times it, the
    exposure falls step by step between them and nothing changes along the other axis."""
    grey = np.full((12, 20, 3), 100, np.uint8)
    lit = COND.side_light(grey, side)
    profile = lit[:, :, 0].mean(axis=1 - side.axis)  # the gain along the light's axis
    profile = profile if side.lit_at_start else profile[::-1]
    assert profile[0] == pytest.approx(100 * COND.BRIGHT) and profile[-1] == pytest.approx(100 * COND.DARK)
    assert np.all(np.diff(profile) < 0)
    assert np.ptp(lit[:, :, 0], axis=1 - side.axis).max() == 0


def _hand_and_mask():
    img = np.random.default_rng(0).integers(60, 200, (16, 16, 3), dtype=np.uint8)
    mask = np.zeros((16, 16), np.float32)
    mask[4:12, 5:11] = 1.0
    return img, mask


@pytest.mark.parametrize("side", COND.SIDES, ids=lambda s: s.name)
def test_side_light_over_black_lights_the_hand_as_taken_and_leaves_the_wall_black(side):
    """Over black: outside the hand's mask every pixel is 0; on the hand, the same light as the
    photograph as taken gets."""
    img, mask = _hand_and_mask()
    shifts = {s.name: s for s in COND.conditions()}
    over_black = shifts[f"bg_black_light_from_{side.name}"]
    assert over_black.needs_mask and not shifts[f"light_from_{side.name}"].needs_mask
    out = over_black.apply(img, mask=mask)
    assert not out[mask == 0].any()
    np.testing.assert_array_equal(out[mask == 1], shifts[f"light_from_{side.name}"].apply(img)[mask == 1])


@pytest.mark.parametrize("shift", [s for s in COND.conditions() if s.family == "skin"], ids=lambda s: s.name)
def test_skin_tone_recolours_the_hand_by_its_swatch_and_leaves_the_wall(shift):
    """On the hand each channel is multiplied by the tone's swatch over the reference swatch (a mask of
    0..255 read as 0..1); off the hand every pixel is as it was."""
    img, mask = _hand_and_mask()
    out = shift.apply(img, mask=mask * 255)
    np.testing.assert_array_equal(out[mask == 0], img[mask == 0])
    tone = COND.MONK_TONES[shift.name.removeprefix("skin_")]
    gains = np.asarray(tone, np.float32) / np.asarray(COND.MONK_TONES[COND.REFERENCE_TONE], np.float32)
    expected = np.clip(np.round(img[mask == 1].astype(np.float32) * gains), 0, 255)
    np.testing.assert_array_equal(out[mask == 1], expected)
    assert not np.array_equal(out[mask == 1], img[mask == 1])


def test_the_reference_tone_is_the_hand_as_photographed_and_no_condition():
    img, mask = _hand_and_mask()
    np.testing.assert_array_equal(COND.skin_tone(img, mask, COND.REFERENCE_TONE), img)
    assert f"skin_{COND.REFERENCE_TONE}" not in {s.name for s in COND.conditions()}
    assert len([s for s in COND.conditions() if s.family == "skin"]) == len(COND.MONK_TONES) - 1


@pytest.mark.parametrize("tone", COND.MONK_TONES)
def test_each_swatch_is_its_own_nearest_tone_at_any_exposure(tone):
    """Hue, not brightness, picks the swatch: a swatch half or a fifth as bright is still itself."""
    rgb = np.asarray(COND.MONK_TONES[tone], np.float64)
    assert [COND.nearest_tone(rgb * k) for k in (1.0, 0.5, 0.2)] == [tone] * 3


def test_the_reference_tone_is_the_measured_nearest_one_to_the_built_in_hands():
    measured = json.loads((Path(__file__).parents[1] / "benchmarks/results/shifts/hand_colour.json").read_text())
    assert measured["nearest_tone"] == COND.nearest_tone(measured["hand_mean_rgb"]) == COND.REFERENCE_TONE


def test_conditions_without_artifacts_or_hand_colour_is_one_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        COND.main(["--out", "unused.json"])
    assert exc.value.code == 2 and "--hand-colour" in capsys.readouterr().err
