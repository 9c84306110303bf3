"""Below the Pi: the measured figures of one export, and their targets, as one results JSON.

Reads an export made with ``asl-edge export RUN --int8 --int4 --micro --npu ...`` (its manifest:
TFLM arena and agreement, Vela's figures, int4 accuracy) and the ``asl-edge evaluate ... --shifts
--json`` outputs of its int8 and int4 artifacts, checks the targets and writes one JSON that
records every command behind its figures.

    python benchmarks/micro_results.py runs/export/edge_cnn-fast --shifts-int8 int8.json \\
        --shifts-int4 int4.json --export-command "asl-edge export ..." --out benchmarks/results/micro/fast.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

# The targets; a micro-sized recipe adds the Cortex-M4-class budget.
TARGETS = {"arena_bytes_max": 48 * 1024, "tflm_top1_agreement": 1.0, "npu_ips_min": 2500.0,
           "int4_size_bytes_max": 80 * 1000, "int4_max_drop_pp": 0.5}
MICRO_BUDGET = {"flash_bytes_max": 64 * 1024, "arena_bytes_max": 32 * 1024, "accuracy_min": 0.97,
                "shift_min": 0.90}


def _shifts(path: str | None) -> dict | None:
    if not path:
        return None
    doc = json.loads(Path(path).read_text())
    return {"unchanged": doc["accuracy"], **{k: v["accuracy"] for k, v in doc["shifts"].items()},
            "_images": doc.get("num_samples"), "_family": {k: v.get("family") for k, v in doc["shifts"].items()}}


def _by_format(manifest: dict, fmt: str) -> dict | None:
    return next((a for a in manifest["artifacts"] if a["format"] == fmt), None)


def _int4_against_int8(int8: dict, int4: dict, s8: dict | None, s4: dict | None) -> dict:
    out = {"size_bytes": int4["size_bytes"], "int8_size_bytes": int8["size_bytes"],
           "accuracy": int4["accuracy"], "int8_accuracy": int8["accuracy"],
           "drop_pp": round((int8["accuracy"] - int4["accuracy"]) * 100, 3)}
    if s8 and s4:
        drops = {k: round((s8[k] - s4[k]) * 100, 3) for k in s8 if not k.startswith("_") and k in s4}
        out["shift_drop_pp"] = drops
        out["worst_shift_drop"] = max(drops.items(), key=lambda kv: kv[1])
    out["meets_target"] = (out["size_bytes"] <= TARGETS["int4_size_bytes_max"]
                           and out["drop_pp"] <= TARGETS["int4_max_drop_pp"]
                           and (not s8 or out["worst_shift_drop"][1] <= TARGETS["int4_max_drop_pp"]))
    return out


def summarise(export_dir: Path, shifts_int8: str | None, shifts_int4: str | None, micro_budget: bool) -> dict:
    manifest = json.loads((export_dir / "manifest.json").read_text())
    int8, int4 = _by_format(manifest, "tflite_int8"), _by_format(manifest, "tflite_int4")
    s8, s4 = _shifts(shifts_int8), _shifts(shifts_int4)
    micro = {m["artifact"]: {"flash_bytes": m["flash_bytes"], "arena": m["arena"], "operators": m["operators"],
                             "verification": m["verification"]} for m in manifest.get("micro") or []}
    npu = {n["accelerator"]: {**n["figures"], "all_on_npu": n["all_on_npu"], "vela_version": n["vela_version"],
                              "basis": n["basis"]} for n in manifest.get("npu") or []}
    out = {"export": str(export_dir), "model": manifest["name"], "evaluation": manifest["evaluation"]["data"],
           "source_accuracy": manifest["source"]["accuracy"], "params": manifest["source"]["params"],
           "artifacts": {a["format"]: {"path": a["path"], "size_bytes": a["size_bytes"], "accuracy": a["accuracy"],
                                       "agreement": a["agreement"]} for a in manifest["artifacts"]},
           "tflm": micro, "npu": npu, "shifts": {"int8": s8, "int4": s4}}
    checks = {}
    if int8 and int8["path"] in micro:
        m = micro[int8["path"]]
        checks["int8_arena_le_48KB"] = m["arena"]["recommended_bytes"] <= TARGETS["arena_bytes_max"]
        checks["int8_tflm_top1_100pct"] = m["verification"]["top1_agreement"] == 1.0
    if "ethos-u55-128" in npu:
        checks["u55_128_ge_2500_ips"] = npu["ethos-u55-128"]["inferences_per_second"] >= TARGETS["npu_ips_min"]
        checks["u55_128_all_on_npu"] = npu["ethos-u55-128"]["all_on_npu"]
    if int8 and int4:
        out["int4_vs_int8"] = _int4_against_int8(int8, int4, s8, s4)
        checks["int4_target"] = out["int4_vs_int8"]["meets_target"]
    if micro_budget and int8 and int8["path"] in micro:
        m = micro[int8["path"]]
        family = (s8 or {}).get("_family", {})
        shifts = {k: v for k, v in (s8 or {}).items() if not k.startswith("_") and k != "unchanged"}
        camera = {k: v for k, v in shifts.items() if family.get(k) != "background"}
        background = {k: v for k, v in shifts.items() if family.get(k) == "background"}
        worst = min(camera.items(), key=lambda kv: kv[1]) if camera else None
        out["micro_budget"] = {**MICRO_BUDGET, "flash_bytes": m["flash_bytes"],
                               "arena_bytes": m["arena"]["recommended_bytes"],
                               "accuracy": int8["accuracy"], "worst_camera_shift": worst,
                               "worst_background_shift": min(background.items(), key=lambda kv: kv[1])
                               if background else None}
        checks["micro_flash_le_64KB"] = m["flash_bytes"] <= MICRO_BUDGET["flash_bytes_max"]
        checks["micro_arena_le_32KB"] = m["arena"]["recommended_bytes"] <= MICRO_BUDGET["arena_bytes_max"]
        checks["micro_accuracy_ge_97"] = int8["accuracy"] >= MICRO_BUDGET["accuracy_min"]
        checks["micro_every_camera_shift_ge_90"] = worst is not None and worst[1] >= MICRO_BUDGET["shift_min"]
        checks["micro_every_background_shift_ge_90"] = bool(background) and min(background.values()) >= \
            MICRO_BUDGET["shift_min"]
    out["targets"] = checks
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("export_dir", type=Path)
    ap.add_argument("--shifts-int8")
    ap.add_argument("--shifts-int4")
    ap.add_argument("--micro-budget", action="store_true", help="also check the Cortex-M4-class budget")
    ap.add_argument("--command", action="append", default=[], help="a command behind the figures (repeatable)")
    ap.add_argument("--note", default="")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    doc = summarise(args.export_dir, args.shifts_int8, args.shifts_int4, args.micro_budget)
    doc.update(created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), note=args.note,
               commands=[*args.command, " ".join(
                   ["python benchmarks/micro_results.py", str(args.export_dir)]
                   + [f"--shifts-int8 {args.shifts_int8}"] * bool(args.shifts_int8)
                   + [f"--shifts-int4 {args.shifts_int4}"] * bool(args.shifts_int4)
                   + ["--micro-budget"] * args.micro_budget + [f"--out {args.out}"])])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps(doc["targets"]))


if __name__ == "__main__":
    main()
