"""``asl-edge info``: what an artifact says about itself, and what its export recorded about it.

Everything comes from the artifact's embedded metadata (labels, the input recipe, preprocessing,
the held-out split) and, when the artifact sits in its export folder, from ``manifest.json``
(precision, the source run, the accuracy measured at export and on which images). Nothing is
run and nothing is measured here: no runtime, no TensorFlow.
"""

from __future__ import annotations

from pathlib import Path

from asl_edge.runtime.describe import ARTIFACT_SUFFIXES
from asl_edge.runtime.errors import IntegrityError, ModelError
from asl_edge.runtime.fsutil import printable, require_regular_file, sha256_file


def _artifact_of(path: Path) -> tuple[Path, str | None]:
    """The artifact to describe, and the export folder it was chosen from (``None``: given directly)."""
    from asl_edge.runtime.integrity import is_export_dir, recommended_artifact

    if is_export_dir(path):
        return recommended_artifact(path)[0], str(path)
    if not path.exists():
        raise ModelError(f"not found: {printable(path)}")
    if path.is_dir():
        raise ModelError(f"{printable(path)} is not an export folder (no manifest.json): give a .tflite/.onnx "
                         "artifact or an export folder")
    if path.suffix not in ARTIFACT_SUFFIXES:
        raise ModelError(f"{printable(path)} is not an artifact: give a .tflite/.onnx file or an export folder")
    return path, None


def _recorded(path: Path) -> tuple[dict, dict, str]:
    """The manifest beside the artifact, its entry, and whether the file still matches it."""
    from asl_edge.runtime.integrity import MANIFEST, check_artifact, read_manifest

    if not (path.parent / MANIFEST).is_file():
        return {}, {}, f"no {MANIFEST} beside it: nothing recorded at export to compare with"
    manifest = read_manifest(path.parent)
    entry = next((a for a in manifest["artifacts"] if a["path"] == path.name), {})
    try:
        ok = check_artifact(path)
    except IntegrityError:
        return manifest, entry, f"DIFFERS from {MANIFEST}: the file changed after export"
    return manifest, entry, f"matches {MANIFEST}" if ok else f"not listed in {MANIFEST}"


def artifact_info(path: str | Path) -> dict:
    """What ``asl-edge info`` reports about an artifact (or an export folder's recommended one).

    Raises:
        ModelError: not an artifact or export folder, or an artifact without asl-edge metadata.
    """
    from asl_edge.runtime.formats import format_for_path
    from asl_edge.runtime.metadata import read_metadata

    artifact, folder = _artifact_of(Path(path))
    size = require_regular_file(artifact, ModelError, "artifact")
    meta = read_metadata(artifact)
    manifest, entry, check = _recorded(artifact)
    fmt = format_for_path(artifact)
    source = manifest.get("source") or {}
    split = meta.get("split") or (manifest.get("evaluation") or {}).get("split")
    return {
        "artifact": str(artifact), "chosen_from": folder, "model": meta.get("model"),
        "asl_edge_version": meta.get("version"), "format": entry.get("format", fmt.name),
        "precision": entry.get("precision", fmt.precision), "runtime": fmt.runtime, "size_bytes": size,
        "sha256": sha256_file(artifact), "manifest_check": check, "labels": list(meta["labels"]),
        "input": meta.get("input"), "preprocessing": meta["preprocessing"],
        "split": {k: v for k, v in split.items() if k != "test"} if isinstance(split, dict) else None,
        "source_run": source.get("run"), "source_model_sha256": source.get("model_sha256"),
        "accuracy": entry.get("accuracy"), "accuracy_on": (manifest.get("evaluation") or {}).get("data"),
        "source_accuracy": source.get("accuracy"), "compression": manifest.get("compression") or None,
        "fused_from": meta.get("fused_from") if isinstance(meta.get("fused_from"), dict) else None,
    }


def _input_lines(spec: dict | None, pre: dict) -> list[tuple[str, str]]:
    """The input recipe (``asl_edge.input``) and the preprocessing, one line each, then its steps."""
    if not spec:  # an artifact written before the input recipe was embedded
        return [("preprocessing", ", ".join(f"{k}={v}" for k, v in pre.items() if k != "localiser"))]
    full, spec = spec, spec.get("crop") if isinstance(spec.get("crop"), dict) else spec  # a fusion: its crop's recipe
    scale = spec.get("pixel_scale")
    lines = [("input", f"{full.get('layout')} {full.get('shape')} {full.get('dtype')}, {spec.get('color')} "
                       f"(channel order {spec.get('channel_order')})"),
             ("resize", f"through {spec.get('resize_chain')} to {spec.get('size')}, {spec.get('resize_method')}"),
             ("pixels", f"x {scale:.6g} (1/{1 / scale:.0f}), then (x - {spec.get('mean')}) / {spec.get('std')}"
                        if scale else f"(x - {spec.get('mean')}) / {spec.get('std')}"),
             ("normalization", str(spec.get("normalization"))
              + (f" (std floored at {spec['per_image_min_std']:.4g})" if spec.get("normalization") == "per_image"
                 else "")),
             ("hand localiser", "finds and crops the hand first" if full.get("hand_localiser") else "none")]
    views = full.get("views")
    if isinstance(views, dict) and isinstance(views.get("moves"), dict):
        lines.append(("views", f"the crop read {len(views['moves'])} times and averaged: "
                               f"{', '.join(map(str, views['moves']))}"))
    return lines + [(f"step {i}", str(step)) for i, step in enumerate(full.get("steps") or [], 1)]


def _fusion_lines(info: dict) -> list[tuple[str, str]]:
    """A fused artifact's combination and its two source artifacts (``asl-edge fuse``)."""
    spec, sources = info["preprocessing"].get("fusion"), info.get("fused_from")
    if not isinstance(spec, dict):
        return []
    whole = ("; a picture without a hand found: the crop model alone, on the whole picture" if spec.get("hand_flag")
             else "; no hand found, no answer")
    rows = [("fusion", f"{spec.get('combination')} of a landmark model (weight {spec.get('weight')}) and a crop model "
                       f"(the rest), both int8, one hand search{whole}")]
    for part in ("landmarks", "crop"):
        src = (sources or {}).get(part) or {}
        rows.append((f"fused from ({part})", f"{src.get('artifact')} (sha256 {str(src.get('sha256'))[:16]}...)"))
    return rows


def format_info(info: dict) -> str:
    """``info`` as aligned ``name  value`` lines (control characters escaped)."""
    split = info["split"]
    chosen = f" (recommended by {info['chosen_from']})" if info["chosen_from"] else ""
    rows = [("artifact", info["artifact"] + chosen),
            ("model", f"{info['model']} (asl-edge {info['asl_edge_version']})"),
            ("format", f"{info['format']}: {info['precision']} on {info['runtime']}"),
            ("size", f"{info['size_bytes'] / 1024:.1f} KB ({info['size_bytes']:,} bytes), sha256 "
                     f"{info['sha256'][:16]}..., {info['manifest_check']}"),
            ("labels", f"{len(info['labels'])}: {' '.join(info['labels'])}"),
            *_input_lines(info["input"], info["preprocessing"])]
    if split:
        sizes = split.get("sizes") or {}
        rows.append(("held-out split", f"{split.get('method')} of {split.get('source')}, seed {split.get('seed')}: "
                                       + ", ".join(f"{k} {v}" for k, v in sizes.items())))
    rows += _fusion_lines(info)
    if not info.get("fused_from"):
        rows.append(("source run", f"{info['source_run']} (model sha256 {str(info['source_model_sha256'])[:16]}...)"
                     if info["source_run"] else "not recorded (no manifest.json beside the artifact)"))
    if info["accuracy"] is not None:
        source = info["source_accuracy"]
        rows.append(("accuracy", f"{info['accuracy']:.2%} on {info['accuracy_on']} (measured at export"
                                 + (f"; {'its two sources fused' if info.get('fused_from') else 'the trained model'}"
                                    f" {source:.2%} on the same images)" if source is not None else ")")))
    else:
        rows.append(("accuracy", "not recorded: `asl-edge evaluate` measures it"))
    if info["compression"]:
        rows.append(("compression", ", ".join(f"{k}={v}" for k, v in info["compression"].items())))
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name.ljust(width)}  {printable(str(value))}" for name, value in rows)
