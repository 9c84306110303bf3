"""Artifact integrity: the sha256 of every artifact is in its export's ``manifest.json``.

``predict``, ``evaluate`` and ``benchmark`` call :func:`check_artifact` before they load a file,
so a file that changed after export (a torn copy, a flipped bit, an edit) is refused with one
line instead of silently giving other answers; ``--no-verify`` skips the check.
"""

from __future__ import annotations

import json
from pathlib import Path

from asl_edge.runtime.errors import IntegrityError, ModelError
from asl_edge.runtime.fsutil import sha256_file

MANIFEST = "manifest.json"


def read_manifest(export_dir: str | Path) -> dict:
    """Loads an export's manifest.

    Raises:
        ModelError: missing or unreadable manifest.
    """
    path = Path(export_dir) / MANIFEST
    if not path.is_file():
        raise ModelError(f"{export_dir} holds no {MANIFEST}: not an asl-edge export folder")
    try:
        manifest = json.loads(path.read_text())
        manifest["artifacts"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise ModelError(f"{path} is damaged: re-export the model") from None
    return manifest


def check_artifact(path: str | Path, verify: bool = True) -> None:
    """Refuses an artifact whose sha256 differs from the manifest beside it.

    Artifacts without a manifest beside them (copied alone to a device) pass: there is nothing
    to compare with.

    Raises:
        IntegrityError: the hash does not match.
    """
    path = Path(path)
    manifest_path = path.parent / MANIFEST
    if not verify or not manifest_path.is_file():
        return
    entry = next((a for a in read_manifest(path.parent)["artifacts"] if a["path"] == path.name), None)
    if entry is None:
        return
    if sha256_file(path) != entry["sha256"]:
        raise IntegrityError(f"{path}: sha256 does not match {MANIFEST}: the file changed or is corrupt; "
                             "re-export it or pass --no-verify")


def verify_export_dir(export_dir: str | Path) -> list[tuple[str, bool, str]]:
    """Checks every artifact listed in an export's manifest.

    Returns:
        ``(file name, ok, reason)`` per artifact.
    """
    export_dir = Path(export_dir)
    rows = []
    for entry in read_manifest(export_dir)["artifacts"]:
        path = export_dir / entry["path"]
        if not path.is_file():
            rows.append((entry["path"], False, "missing"))
        elif path.stat().st_size != entry["size_bytes"]:
            rows.append((entry["path"], False, f"size {path.stat().st_size} != {entry['size_bytes']} (truncated?)"))
        elif sha256_file(path) != entry["sha256"]:
            rows.append((entry["path"], False, "sha256 mismatch"))
        else:
            rows.append((entry["path"], True, "ok"))
    return rows
