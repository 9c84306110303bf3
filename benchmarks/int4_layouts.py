"""int4 layouts against the int8 artifact: size, held-out accuracy and every shift, per layout.

For one trained run and its export (the fp32 and int8 TFLite artifacts of ``asl-edge export RUN
--int8``), quantises the fp32 TFLite once per int4 layout (:data:`asl_edge.export.int4.LAYOUTS`,
plus, with ``--sensitivity``, one convolution at a time in 4 bits and none: each layer's own
cost), calibrated on the images ``asl-edge export`` draws (the same seed, count and augmented
share), and scores each on the run's held-out signers unchanged and under every shift of
:func:`asl_edge.runtime.shifts.camera_shifts` (background shifts with the cached hand masks, as
``asl-edge evaluate --shifts`` does), against the int8 artifact on the very same inputs.

    python benchmarks/int4_layouts.py models/asl-digits-fast export/asl-digits-fast --sensitivity \\
        --out benchmarks/results/micro/int4_layouts.json

One image of 267 is 0.375 point: the target (0.5 point) allows one image lost per condition.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from micro_results import TARGETS  # noqa: E402  (the issue's targets: one place)


def _artifact(export_dir: Path, fmt: str) -> Path:
    manifest = json.loads((export_dir / "manifest.json").read_text())
    found = [a["path"] for a in manifest["artifacts"] if a["format"] == fmt]
    if not found:
        sys.exit(f"int4_layouts: error: {export_dir} has no {fmt} artifact: export it with --int8")
    return export_dir / found[0]


def _calibration(run_dir: Path, calib_samples: int) -> tuple[np.ndarray, int]:
    """The calibration images ``asl-edge export RUN --int4 --calib-samples N`` would use."""
    from asl_edge.export import pipeline
    from asl_edge.runtime import runfolder

    run = runfolder.load_run(run_dir)
    config = pipeline.ExportConfig(int8=True, int4=True, calib_samples=calib_samples)
    aug, _ = pipeline._run_augmentation(run.folder)
    train_ds, _, _ = pipeline._data(run, config)
    return pipeline._calibration(train_ds, config, aug)


def _inputs(int8_path: Path) -> tuple[dict, np.ndarray, dict, object]:
    """Model inputs of the held-out images unchanged and under every shift (as ``evaluate --shifts``)."""
    from asl_edge.bench import evaluate as ev
    from asl_edge.runtime.shifts import camera_shifts

    _, _, pre, rgb_ds, chosen = ev._load_target(int8_path, None, True, override=ev._shift_stage)
    if pre.localises:
        sys.exit("int4_layouts: error: a model with a hand localiser is not supported here")
    shifts = camera_shifts()
    masks = ev._MaskLookup(rgb_ds)
    rgb = rgb_ds.load_images(np.arange(len(rgb_ds)))
    out, family = {"unchanged": np.stack([pre.from_array(img) for img in rgb])}, {"unchanged": "none"}
    for shift in shifts:
        apply = masks.apply(shift) if shift.needs_mask else shift.apply
        out[shift.name] = np.stack([pre.from_array(apply(img)) for img in rgb])
        family[shift.name] = shift.family
    return out, np.asarray(rgb_ds.labels), family, (pre, chosen)


def _accuracies(path: Path, inputs: dict, labels: np.ndarray, pre) -> dict:
    from asl_edge.runtime.runners import load_runner

    runner = load_runner(path)
    return {name: float((runner.predict(pre.normalize(x)).argmax(1) == labels).mean()) for name, x in inputs.items()}


def _layouts(args, n_convs: int) -> list:
    from asl_edge.export.int4 import DEFAULT_LAYOUT, LAYOUTS, Int4Layout

    chosen = [LAYOUTS[name] for name in (LAYOUTS if args.layouts is None else args.layouts)]
    # the quantizer's other weight algorithms on the default's int8 convolutions (a refusal is a row too)
    base = LAYOUTS[DEFAULT_LAYOUT].int8_convs
    chosen += [Int4Layout(f"quantizer-{name.lower()}", base, name, description=f"ai-edge-quantizer's {name} "
                          "for the int4 kernels") for name in args.algorithms]
    if args.sensitivity:  # rounded as the default layout rounds, from the same source
        default, everything = LAYOUTS[DEFAULT_LAYOUT], tuple(range(n_convs))
        chosen.append(replace(default, name="all-int8", int8_convs=everything, last_int4=False,
                              description="no int4 at all (what int4 adds to it is the rest)"))
        chosen += [replace(default, name=f"only-conv{k}-int4", int8_convs=tuple(p for p in everything if p != k),
                           description=f"only convolution {k} in int4 (its sensitivity)", last_int4=False)
                   for k in everything]
    return chosen


def _score(name: str, buf: bytes, work: Path, ref: dict, inputs, labels, pre, extra: dict) -> dict:
    from asl_edge.export.int4 import conv_weight_types

    path = work / f"{name}_int4.tflite"
    path.write_bytes(buf)
    acc = _accuracies(path, inputs, labels, pre)
    drops = {k: round((ref[k] - acc[k]) * 100, 3) for k in ref}
    worst = max(drops.items(), key=lambda kv: kv[1])
    row = {**extra, "size_bytes": len(buf), "conv_weight_types": conv_weight_types(buf),
           "accuracy": acc["unchanged"], "drop_pp": drops["unchanged"], "shift_accuracy": acc,
           "shift_drop_pp": drops, "max_drop": list(worst),
           "conditions_over_target": sorted(k for k, d in drops.items() if d > TARGETS["int4_max_drop_pp"])}
    row["meets_target"] = (len(buf) <= TARGETS["int4_size_bytes_max"] and worst[1] <= TARGETS["int4_max_drop_pp"])
    print(f"{name:28s} {len(buf):7d} B  held-out drop {drops['unchanged']:+.3f}  max drop {worst[1]:.3f} "
          f"({worst[0]})  over: {len(row['conditions_over_target'])}", file=sys.stderr, flush=True)
    return row


def measure(args) -> dict:
    from asl_edge.export.int4 import DEFAULT_LAYOUT, LAYOUTS, _conv_outputs, quantize_int4
    from asl_edge.runtime.errors import ExportError

    fp32 = _artifact(args.export_dir, "tflite_fp32").read_bytes()
    int8_path = _artifact(args.export_dir, "tflite_int8")
    inputs, labels, family, (pre, chosen) = _inputs(int8_path)
    ref = _accuracies(int8_path, inputs, labels, pre)
    args.work.mkdir(parents=True, exist_ok=True)
    samples, shown = _calibration(args.run_dir, args.calib_samples[0])
    int8 = int8_path.read_bytes()  # what int8-source layouts re-round: calibrated on these very samples
    rows = {}
    for layout in _layouts(args, len(_conv_outputs(fp32))):
        start = time.monotonic()
        try:
            buf = quantize_int4(fp32, samples, layout, int8)
        except (ExportError, ValueError, RuntimeError) as exc:  # a layout the quantizer refuses: recorded
            rows[layout.name] = {"int8_convs": list(layout.int8_convs), "error": str(exc).splitlines()[0][:300]}
            continue
        rows[layout.name] = _score(layout.name, buf, args.work, ref, inputs, labels, pre, {
            "int8_convs": list(layout.int8_convs), "algorithm": layout.algorithm, "source": layout.source,
            "granularity": layout.granularity, "description": layout.description,
            "calib_samples": len(samples), "quantise_s": round(time.monotonic() - start, 1)})
    for n in args.calib_samples[1:]:  # the default layout with more (or fewer) calibration images
        more, _ = _calibration(args.run_dir, n)
        name = f"{DEFAULT_LAYOUT}-calib{len(more)}"
        rows[name] = _score(name, quantize_int4(fp32, more, LAYOUTS[DEFAULT_LAYOUT], int8), args.work, ref, inputs,
                            labels, pre, {"layout": DEFAULT_LAYOUT, "calib_samples": len(more)})
    return {"ref": ref, "rows": rows, "family": family, "chosen": chosen, "samples": (len(samples), shown),
            "int8_path": int8_path, "int8_size": int8_path.stat().st_size, "n": len(labels)}


def _document(args, m: dict) -> dict:
    from asl_edge.export.int4 import DEFAULT_LAYOUT

    data = m["chosen"].to_dict().get("data") or f"held-out signers: {m['n']} images"
    scored = {name: r for name, r in m["rows"].items() if "error" not in r}
    meeting = sorted((r["size_bytes"], name) for name, r in scored.items() if r["meets_target"])
    small = {k: v for k, v in scored.items() if v["size_bytes"] <= TARGETS["int4_size_bytes_max"]} or scored
    # the smallest largest drop, then the fewest conditions over the target, then the smallest file
    best = min(small.items(), key=lambda kv: (kv[1]["max_drop"][1], len(kv[1]["conditions_over_target"]),
                                              kv[1]["size_bytes"]))
    return {
        "kind": "int4-layouts", "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python benchmarks/int4_layouts.py", *sys.argv[1:]]),
        "model": str(args.run_dir), "export": str(args.export_dir),
        "data": f"{data}, "
                f"unchanged and under {len(m['ref']) - 1} shifts of asl_edge.runtime.shifts (families: "
                f"{', '.join(sorted(set(m['family'].values()) - {'none'}))})",
        "calibration": f"{m['samples'][0]} training images ({m['samples'][1]} through the run's augmentation), "
                       "drawn as asl-edge export draws them",
        "against": {"artifact": str(m["int8_path"]), "size_bytes": m["int8_size"], "accuracy": m["ref"]},
        "targets": {"size_bytes_max": TARGETS["int4_size_bytes_max"], "max_drop_pp": TARGETS["int4_max_drop_pp"],
                    "one_image_pp": round(100 / m["n"], 3)},
        "shift_family": m["family"], "layouts": m["rows"], "default_layout": DEFAULT_LAYOUT,
        "meeting_target": [name for _, name in meeting],
        "best_within_size": {"layout": best[0], "size_bytes": best[1]["size_bytes"], "max_drop": best[1]["max_drop"]},
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path, help="the trained run (its split and calibration images)")
    ap.add_argument("export_dir", type=Path, help="its export with --int8 (the fp32 and int8 TFLite artifacts)")
    ap.add_argument("--layouts", nargs="*", 
                    help="layouts of asl_edge.export.int4.LAYOUTS (default: all; none with the option alone)")
    ap.add_argument("--sensitivity", action="store_true", help="also one convolution at a time in int4, and none")
    ap.add_argument("--algorithms", nargs="*", default=[], metavar="NAME",
                    help="also these ai-edge-quantizer weight algorithms (AlgorithmName members, e.g. GPTQ OSCAR) "
                         "on the default layout's int8 convolutions")
    ap.add_argument("--calib-samples", type=int, nargs="+", default=[200],
                    help="calibration images (the first for every layout, the others for the default layout)")
    ap.add_argument("--work", type=Path, default=Path("runs/int4_layouts"), help="where the int4 files go")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    from asl_edge.export.int4 import LAYOUTS

    unknown = [name for name in args.layouts or () if name not in LAYOUTS]
    if unknown:
        ap.error(f"unknown layout(s) {', '.join(unknown)}; choose from: {', '.join(LAYOUTS)}")
    load = os.getloadavg()
    doc = _document(args, measure(args))
    # accuracies do not depend on load; it says how long the quantisation times (quantise_s) are worth
    doc["loadavg_start"], doc["loadavg_end"] = [round(v, 2) for v in load], [round(v, 2) for v in os.getloadavg()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    tmp.replace(args.out)
    print(json.dumps({"meeting_target": doc["meeting_target"], "best_within_size": doc["best_within_size"]}))


if __name__ == "__main__":
    main()
