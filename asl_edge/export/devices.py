"""Below the Pi: what ``asl-edge export --micro`` and ``--npu`` add to an export.

Runs after the artifacts are written and verified, inside the export's temporary folder: a
TFLite Micro bundle beside each full-integer TFLite (:mod:`asl_edge.export.micro`) and a Vela
compile of the int8 TFLite per Ethos-U configuration (:mod:`asl_edge.export.npu`). Their manifest
entries go under ``micro`` and ``npu``; one that fails is listed under ``failed`` (and fails the
command), the others stay.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from asl_edge.runtime.errors import AslEdgeError
from asl_edge.runtime.formats import get_format
from asl_edge.runtime.fsutil import sha256_file

log = logging.getLogger(__name__)
NPU_FORMAT = "tflite_int8"  # what Vela compiles: full int8 (Ethos-U has no int4 weights)


def _file_record(folder: Path, name: str) -> dict:
    path = folder / name
    return {"path": name, "size_bytes": path.stat().st_size, "sha256": sha256_file(path)}


def _micro(folder: Path, artifacts: list[dict], failed: list[dict], labels: list[str], x, y) -> list[dict]:
    from asl_edge.export.micro import MicroFiles, write_bundle

    out = []
    for a in artifacts:
        fmt = get_format(a["format"])
        if fmt.family != "tflite" or not fmt.full_integer:
            continue
        log.info("TFLite Micro bundle of %s", a["path"])
        try:
            entry = write_bundle(folder / a["path"], labels, x, y)
        except AslEdgeError as exc:
            entry = {"artifact": a["path"], "status": f"failed: {exc}"}
        files = MicroFiles.of(a["path"])
        if entry["status"] != "ok":
            for name in (files.source, files.header):
                (folder / name).unlink(missing_ok=True)
            failed.append({"path": files.source, "format": "tflite_micro", "precision": fmt.precision,
                           "status": entry["status"]})
            continue
        entry["files"] = [_file_record(folder, files.source), _file_record(folder, files.header)]
        out.append(entry)
    return out


def _npu(folder: Path, artifacts: list[dict], failed: list[dict], accelerators: tuple[str, ...]) -> list[dict]:
    from asl_edge.export.npu import compile_for, compiled_name

    source = next((a for a in artifacts if a["format"] == NPU_FORMAT), None)
    out = []
    for accelerator in accelerators:
        if source is None:
            failed.append({"path": f"(Vela, {accelerator})", "format": "vela", "precision": "int8",
                           "status": "failed: no verified int8 TFLite to compile"})
            continue
        log.info("Vela compile of %s for %s", source["path"], accelerator)
        try:
            entry = compile_for(folder / source["path"], accelerator)
        except AslEdgeError as exc:
            (folder / compiled_name(source["path"], accelerator)).unlink(missing_ok=True)
            failed.append({"path": compiled_name(source["path"], accelerator), "format": "vela", "precision": "int8",
                           "status": f"failed: {exc}"})
            continue
        entry.update(_file_record(folder, entry["path"]), status="ok")
        out.append(entry)
    return out


def below_the_pi(folder: Path, artifacts: list[dict], failed: list[dict], config, labels: list[str],
                 x: np.ndarray, y: np.ndarray) -> dict:
    """The ``micro`` and ``npu`` manifest entries an export config asks for (``{}`` for neither)."""
    out = {}
    if config.micro:
        out["micro"] = _micro(folder, artifacts, failed, labels, x, y)
    if config.npu:
        out["npu"] = _npu(folder, artifacts, failed, tuple(config.npu))
    return out
