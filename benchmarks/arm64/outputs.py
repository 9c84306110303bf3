"""Predictions of every artifact of an export, compared between x86 and emulated ARM64.

Helper of ``benchmarks/arm64_check.sh`` (``make arm64-check``); each step runs where the script says:

    python outputs.py inputs  EXPORT_DIR PIXELS.npy              # x86 host: held-out images, uint8
    python outputs.py predict EXPORT_DIR PIXELS.npy OUT.npz      # x86 host, then inside the arm64 chroot
    python outputs.py compare EXPORT_DIR PIXELS.npy X86.npz ARM64.npz OUT.json [--qemu TEXT] [--seconds N]   # x86 host

``predict`` uses only the runtime-only install (``asl-edge[pi]``): each artifact's embedded
preprocessing normalises the same uint8 pixels, and each image goes through the runtime alone
(batch 1, one thread), as on a Raspberry Pi. ``compare`` exits 1 when an artifact's outputs differ
beyond its tolerance: int8 outputs at most 1 LSB (the output tensor's quantisation step) apart,
float artifacts at most 1e-4. No timing is recorded: emulated timings are not Pi timings.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from asl_edge.runtime.fsutil import atomic_path, atomic_write_json

# Largest allowed difference per precision: quantised outputs in LSB of the output tensor,
# float ones absolute (the bar: int8 bit-exact or within 1 LSB, fp32 within 1e-4).
# fp16 and dynamic-range artifacts compute in float32 on CPUs (weights are dequantised), so they
# get the float bar.
LSB_TOLERANCE = 1
FLOAT_TOLERANCE = 1e-4


def _artifacts(export_dir: Path) -> list[Path]:
    from asl_edge.runtime.integrity import read_manifest

    manifest = read_manifest(export_dir)
    return [export_dir / a["path"] for a in manifest["artifacts"] if Path(a["path"]).suffix in (".tflite", ".onnx")]


def cmd_inputs(export_dir: Path, dest: Path) -> None:
    """Writes the uint8 pixels of the data the benchmark would use (the run's held-out split)."""
    from asl_edge.bench.targets import bench_data
    from asl_edge.runtime.integrity import read_manifest
    from asl_edge.runtime.preprocess import Preprocessing

    manifest = read_manifest(export_dir)
    chosen = bench_data(Preprocessing.from_dict(manifest["preprocessing"]), manifest)
    ds, described = chosen.dataset, chosen.description
    with atomic_path(dest) as tmp:
        np.save(tmp, ds.load_images())
    atomic_write_json(str(dest) + ".json", {"description": described, "images": len(ds)})
    print(f"inputs: {len(ds)} images ({described})")


def xnnpack_applied(path: Path) -> bool | None:
    """Whether LiteRT hands a .tflite file's graph to its XNNPACK delegate here (``None``: not TFLite).

    LiteRT skips XNNPACK silently when its CPU detection fails, which is what a bad emulated CPU
    description causes; the delegate then shows up as no ``DELEGATE`` node in the execution plan.
    """
    if path.suffix != ".tflite":
        return None
    from ai_edge_litert.interpreter import Interpreter

    from asl_edge.runtime.quiet import quiet_native_stderr

    with quiet_native_stderr():
        interp = Interpreter(model_path=str(path), num_threads=1)
        interp.allocate_tensors()
    return any(op["op_name"] == "DELEGATE" for op in interp._get_ops_details())


def cmd_predict(export_dir: Path, pixels_path: Path, dest: Path) -> None:
    """Raw outputs of every artifact, one image at a time, plus where they were computed."""
    from asl_edge.bench.machine import machine_info
    from asl_edge.runtime.metadata import read_metadata
    from asl_edge.runtime.preprocess import Preprocessing
    from asl_edge.runtime.runners import load_runner

    pixels = np.load(pixels_path)
    arrays, info = {}, {"machine": machine_info(), "artifacts": {}}
    for path in _artifacts(export_dir):
        x = Preprocessing.from_dict(read_metadata(path)["preprocessing"]).normalize(pixels)
        runner = load_runner(path, threads=1)
        xnnpack = xnnpack_applied(path)
        arrays[path.name] = np.concatenate([runner.predict(x[i:i + 1]) for i in range(len(x))])
        info["artifacts"][path.name] = {"runtime": runner.runtime, "runtime_version": runner.runtime_version,
                                        "xnnpack": xnnpack}
        print(f"predict: {path.name} on {runner.runtime} {runner.runtime_version}: {len(x)} images"
              + (", XNNPACK delegate applied" if xnnpack else ""))
    settings = _localiser_settings(export_dir)
    if settings is not None:
        arrays[HAND_BOXES] = hand_boxes(settings, pixels)
        found = int(np.isfinite(arrays[HAND_BOXES][:, 0]).sum())
        print(f"predict: hand localiser: {found} of {len(pixels)} hands found")
    with atomic_path(dest) as tmp:
        np.savez(tmp, info=np.array(json.dumps(info)), **arrays)


HAND_BOXES = "hand_localiser_boxes"
# Hand boxes (pixels of the 64x64 inputs) from float models on two CPUs: the same hand, within a pixel.
BOX_TOLERANCE_PX = 1.0


def _localiser_settings(export_dir: Path) -> dict | None:
    """The export's hand localiser settings (camera models), else ``None``."""
    from asl_edge.runtime.metadata import read_metadata

    return read_metadata(_artifacts(export_dir)[0])["preprocessing"].get("localiser")


def hand_boxes(settings: dict, pixels: np.ndarray) -> np.ndarray:
    """The localiser's box per image, ``(N, 4)`` (NaN where no hand is found): MediaPipe's models
    through LiteRT are part of a camera model, so they are compared across CPUs too."""
    from asl_edge.runtime.hands import cached_localiser

    localiser = cached_localiser(settings)
    out = np.full((len(pixels), 4), np.nan)
    for i, rgb in enumerate(pixels):
        box = localiser.find(np.ascontiguousarray(rgb[..., :3]))
        if box is not None:
            out[i] = (box.x0, box.y0, box.x1, box.y1)
    return out


def compare_hands(x86: dict, arm: dict) -> dict | None:
    """One row for the hand localiser: found in the same images, boxes within BOX_TOLERANCE_PX."""
    if HAND_BOXES not in x86:
        return None
    row = {"artifact": "hand localiser (MediaPipe palm + landmark lite)", "format": "localiser", "precision": "fp32",
           "runtime": "litert", "tolerance": f"{BOX_TOLERANCE_PX} px"}
    if HAND_BOXES not in arm:
        return {**row, "status": "fail: no arm64 hand boxes"}
    a, b = x86[HAND_BOXES], arm[HAND_BOXES]
    found_a, found_b = np.isfinite(a[:, 0]), np.isfinite(b[:, 0])
    both = found_a & found_b
    diff = float(np.abs(a[both] - b[both]).max()) if both.any() else 0.0
    row.update(images=len(a), max_abs_diff=diff, top1_agreement=float((found_a == found_b).mean()))
    ok = bool((found_a == found_b).all()) and diff <= BOX_TOLERANCE_PX
    return {**row, "status": "pass" if ok else f"fail: hands found differently or boxes differ by {diff:.3g} px"}


def output_lsb(path: Path) -> float | None:
    """The quantisation step of an artifact's output tensor; ``None`` for a float output."""
    if path.suffix == ".tflite":
        from ai_edge_litert.interpreter import Interpreter

        out = Interpreter(model_path=str(path)).get_output_details()[0]
        return float(out["quantization"][0]) if out["dtype"] in (np.int8, np.uint8) else None
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path), load_external_data=False)
    inits = {t.name: t for t in model.graph.initializer}
    name = model.graph.output[0].name
    node = next((n for n in model.graph.node if name in n.output), None)
    if node is None or node.op_type != "DequantizeLinear" or node.input[1] not in inits:
        return None  # a float output tensor: compared with the float bar
    return float(numpy_helper.to_array(inits[node.input[1]]).reshape(-1)[0])


def compare(export_dir: Path, x86: dict, arm: dict, x86_info: dict, arm_info: dict) -> list[dict]:
    """One row per artifact: largest difference, top-1 agreement and pass/fail against its tolerance."""
    from asl_edge.runtime.formats import format_for_path

    rows = []
    for path in _artifacts(export_dir):
        fmt = format_for_path(path)
        a, b = x86[path.name], arm.get(path.name)
        row = {"artifact": path.name, "format": fmt.name, "precision": fmt.precision,
               "runtime": arm_info["artifacts"].get(path.name, {}).get("runtime"),
               "runtime_version_arm64": arm_info["artifacts"].get(path.name, {}).get("runtime_version"),
               "runtime_version_x86": x86_info["artifacts"][path.name]["runtime_version"],
               "xnnpack_x86": x86_info["artifacts"][path.name]["xnnpack"],
               "xnnpack_arm64": arm_info["artifacts"].get(path.name, {}).get("xnnpack")}
        if b is None or a.shape != b.shape:
            status = "fail: no arm64 outputs" if b is None else f"fail: shape {b.shape} != {a.shape}"
            rows.append({**row, "status": status})
            continue
        diff = float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max())
        lsb = output_lsb(path) if fmt.quantized else None
        row.update(images=len(a), max_abs_diff=diff, top1_agreement=float((a.argmax(1) == b.argmax(1)).mean()))
        if lsb:
            row.update(lsb=lsb, max_lsb_diff=round(diff / lsb), tolerance=f"{LSB_TOLERANCE} LSB")
            ok = row["max_lsb_diff"] <= LSB_TOLERANCE
        else:
            row.update(tolerance=FLOAT_TOLERANCE)
            ok = diff <= FLOAT_TOLERANCE
        if not ok:
            row["status"] = f"fail: outputs differ by {diff:.3g} (tolerance {row['tolerance']})"
        elif row["xnnpack_x86"] and not row["xnnpack_arm64"]:
            # LiteRT silently skips XNNPACK when its CPU detection fails; then the check would not
            # exercise the kernels a Pi 4 runs.
            row["status"] = "fail: LiteRT did not apply XNNPACK under emulation (CPU detection failed?)"
        else:
            row["status"] = "pass"
        rows.append(row)
    hands = compare_hands(x86, arm)
    if hands is not None:
        rows.append(hands)
    return rows


def cmd_compare(export_dir: Path, pixels_path: Path, x86_path: Path, arm_path: Path, dest: Path, qemu: str,
                seconds: int | None = None) -> int:
    from asl_edge.report import CHECK_KIND  # the kind `asl-edge report` recognises

    with np.load(x86_path) as x86_npz, np.load(arm_path) as arm_npz:
        x86 = {k: x86_npz[k] for k in x86_npz.files if k != "info"}
        arm = {k: arm_npz[k] for k in arm_npz.files if k != "info"}
        x86_info, arm_info = json.loads(str(x86_npz["info"])), json.loads(str(arm_npz["info"]))
    rows = compare(export_dir, x86, arm, x86_info, arm_info)
    data = json.loads(Path(str(pixels_path) + ".json").read_text())
    failed = [r for r in rows if r["status"] != "pass"]
    doc = {
        "schema": 1,
        "kind": CHECK_KIND,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "status": "fail" if failed else "pass",
        "note": "Predictions only: timings under QEMU user-mode emulation are not Raspberry Pi timings and are "
        "not recorded.",
        "export": export_dir.name,
        "emulation": {
            "qemu": qemu,
            "qemu_cpu": os.environ.get("QEMU_CPU", ""),
            "userland": "Debian 12 bookworm arm64 (mmdebstrap --variant=extract)",
            "machine": arm_info["machine"],
        },
        "host": x86_info["machine"],
        "data": data,
        "batch": 1,
        "threads": 1,
        # The check's wall time from its start to the comparison, set-up (cached userland, wheels) and
        # both sides' predictions included: what `make arm64-check*` costs, not a device timing.
        "check_seconds": seconds,
        "results": rows,
    }
    atomic_write_json(dest, doc)
    for r in rows:
        what = (
            f"{r['max_lsb_diff']} LSB"
            if "max_lsb_diff" in r
            else f"max |diff| {r.get('max_abs_diff', float('nan')):.2e}"
        )
        print(
            f"{r['artifact']:36} {r['precision']:6} {what:22} "
            f"top-1 agreement {r.get('top1_agreement', 0):.4f}  {r['status']}"
        )
    print(f"wrote {dest}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="step", required=True)
    p = sub.add_parser("inputs")
    p.add_argument("export_dir", type=Path)
    p.add_argument("dest", type=Path)
    p = sub.add_parser("predict")
    p.add_argument("export_dir", type=Path)
    p.add_argument("pixels", type=Path)
    p.add_argument("dest", type=Path)
    p = sub.add_parser("compare")
    p.add_argument("export_dir", type=Path)
    p.add_argument("pixels", type=Path)
    p.add_argument("x86", type=Path)
    p.add_argument("arm64", type=Path)
    p.add_argument("dest", type=Path)
    p.add_argument("--qemu", default="")
    p.add_argument("--seconds", type=int, default=None, help="the check's wall time so far")
    args = parser.parse_args(argv)
    if args.step == "inputs":
        cmd_inputs(args.export_dir, args.dest)
    elif args.step == "predict":
        cmd_predict(args.export_dir, args.pixels, args.dest)
    else:
        return cmd_compare(args.export_dir, args.pixels, args.x86, args.arm64, args.dest, args.qemu, args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
