"""Artifact integrity: the sha256 of every artifact is in its export's ``manifest.json``.

``predict``, ``evaluate`` and ``benchmark`` call :func:`check_artifact` before they load a file,
so a file that changed after export (a torn copy, a flipped bit, an edit) is refused with one
line instead of silently giving other answers; ``--no-verify`` skips the check.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from asl_edge.runtime.errors import IntegrityError, ModelError
from asl_edge.runtime.fsutil import printable, read_regular, require_regular_file, sha256_file

MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 8 << 20
MAX_ARTIFACTS = 256
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _damaged(path: Path, why: str):
    raise ModelError(f"{printable(path)} is damaged ({why}): re-export the model")


def _check_entry(entry, path: Path, i: int) -> None:
    if not isinstance(entry, dict):
        _damaged(path, f"artifact {i} is not an object")
    name = entry.get("path")
    if not isinstance(name, str) or not name or len(name) > 255:
        _damaged(path, f"artifact {i} has no file name")
    if not name.isprintable():
        _damaged(path, f"artifact {i} has control characters in its name")
    if "sha256" in entry and not (isinstance(entry["sha256"], str) and _SHA256.fullmatch(entry["sha256"])):
        _damaged(path, f"artifact {i} has a malformed sha256")
    size = entry.get("size_bytes")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        _damaged(path, f"artifact {i} has a malformed size")


def validate_manifest(manifest, path: Path) -> dict:
    """Checks the manifest's structure (types and sizes) so later readers never meet a surprise.

    Raises:
        ModelError: one line naming the problem.
    """
    if not isinstance(manifest, dict):
        _damaged(path, "not a JSON object")
    artifacts = manifest.get("artifacts")
    if not isinstance(artifacts, list):
        _damaged(path, "no artifact list")
    if len(artifacts) > MAX_ARTIFACTS:
        _damaged(path, f"{len(artifacts)} artifacts")
    for i, entry in enumerate(artifacts):
        _check_entry(entry, path, i)
    for key in ("failed",):
        if key in manifest and not isinstance(manifest[key], list):
            _damaged(path, f"'{key}' is not a list")
    for key in ("source", "compression", "preprocessing", "config", "versions", "evaluation"):
        if manifest.get(key) is not None and not isinstance(manifest[key], dict):
            _damaged(path, f"'{key}' is not an object")
    source = manifest.get("source") or {}
    if source.get("run") is not None and not isinstance(source["run"], str):
        _damaged(path, "source.run is not a path")
    if source.get("model_sha256") is not None and not (isinstance(source["model_sha256"], str)
                                                       and _SHA256.fullmatch(source["model_sha256"])):
        _damaged(path, "source.model_sha256 is malformed")
    labels = manifest.get("labels")
    if labels is not None and not (isinstance(labels, list) and all(isinstance(x, str) for x in labels)):
        _damaged(path, "labels are not a list of strings")
    return manifest


def read_manifest(export_dir: str | Path) -> dict:
    """Loads an export's manifest, checked for structure.

    Raises:
        ModelError: missing, unreadable or malformed manifest.
    """
    path = Path(export_dir) / MANIFEST
    if not path.exists():
        raise ModelError(f"{printable(export_dir)} holds no {MANIFEST}: not an asl-edge export folder")
    raw = read_regular(path, ModelError, "manifest", MAX_MANIFEST_BYTES)
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        _damaged(path, "not UTF-8")
    except RecursionError:
        _damaged(path, "nested too deeply")
    except ValueError:
        _damaged(path, "not JSON")
    return validate_manifest(manifest, path)


def artifact_path(export_dir: str | Path, entry: dict) -> Path:
    """The file of a manifest entry, refused unless it names a file directly inside ``export_dir``.

    Raises:
        IntegrityError: a path that leaves the folder (``../``, absolute, through a symbolic link).
    """
    export_dir = Path(export_dir)
    name = entry["path"]
    candidate = export_dir / name
    bad = name in (".", "..") or "/" in name or "\\" in name or "\0" in name or Path(name).is_absolute()
    if not bad:
        try:
            bad = candidate.resolve().parent != export_dir.resolve()
        except (OSError, RuntimeError):
            bad = True
    if bad:
        raise IntegrityError(f"{printable(export_dir / MANIFEST)} names '{printable(name)}', which is not a file "
                             "inside the export folder: refusing it")
    return candidate


def export_artifacts(export_dir: str | Path) -> tuple[dict, list[tuple[dict, Path]]]:
    """An export folder's manifest and its artifacts, each as ``(manifest entry, file)`` in manifest
    order: what ``benchmark`` measures and ``predict``/``evaluate``/``info`` choose from.

    Raises:
        ModelError: no or a damaged manifest.
        IntegrityError: an entry naming a file outside the folder.
    """
    manifest = read_manifest(export_dir)
    return manifest, [(entry, artifact_path(export_dir, entry)) for entry in manifest["artifacts"]]


def recommended_artifact(export_dir: str | Path) -> tuple[Path, dict]:
    """The artifact of an export folder to deploy, with its manifest entry: of those that passed
    the export's verification and accuracy gate, the first in
    :data:`~asl_edge.runtime.formats.DEPLOY_ORDER` (ties: manifest order).

    Raises:
        ModelError: no or a damaged manifest, or no artifact that passed.
    """
    from asl_edge.runtime.formats import DEPLOY_ORDER

    _, artifacts = export_artifacts(export_dir)
    passed = [(entry, path) for entry, path in artifacts if entry.get("status", "ok") == "ok"]
    if not passed:
        raise ModelError(f"{printable(export_dir)}/{MANIFEST} lists no artifact that passed its export checks")
    rank = {name: i for i, name in enumerate(DEPLOY_ORDER)}
    entry, path = min(passed, key=lambda ep: rank.get(ep[0].get("format"), len(rank)))
    return path, entry


def is_export_dir(path: str | Path) -> bool:
    """A folder with an export manifest (a run folder has none)."""
    return Path(path).is_dir() and (Path(path) / MANIFEST).is_file()


def check_artifact(path: str | Path, verify: bool = True) -> bool:
    """Refuses an artifact whose sha256 differs from the manifest beside it.

    Returns:
        True when the manifest beside it vouches for the file (sha256 checked and equal).

    Artifacts without a manifest beside them (copied alone to a device) pass: there is nothing
    to compare with (their structure is still validated before any runtime sees them).

    Raises:
        IntegrityError: the hash or the size does not match.
        ModelError: not a regular file, or a damaged manifest.
    """
    path = Path(path)
    require_regular_file(path, ModelError, "artifact")
    manifest_path = path.parent / MANIFEST
    if not verify or not manifest_path.exists():
        return False
    entry = next((a for a in read_manifest(path.parent)["artifacts"] if a["path"] == path.name), None)
    if entry is None or "sha256" not in entry:
        return False
    # The size first: a file of the wrong size cannot match, and hashing it is not needed.
    if ("size_bytes" in entry and path.stat().st_size != entry["size_bytes"]) or sha256_file(path) != entry["sha256"]:
        raise IntegrityError(f"{printable(path)}: sha256 does not match {MANIFEST}: the file changed or is corrupt; "
                             "re-export it or pass --no-verify")
    return True


def _bundle_entries(manifest: dict) -> list[dict]:
    """The TFLite Micro sources and Vela compiles an export wrote (``micro[].files``, ``npu[]``),
    each listed with its size and sha256 like an artifact; malformed entries are left out."""
    micro = manifest.get("micro") if isinstance(manifest.get("micro"), list) else []
    npu = manifest.get("npu") if isinstance(manifest.get("npu"), list) else []
    files = [f for m in micro if isinstance(m, dict) and isinstance(m.get("files"), list) for f in m["files"]]
    return [e for e in files + npu if isinstance(e, dict) and isinstance(e.get("path"), str) and e["path"]]


def verify_export_dir(export_dir: str | Path) -> list[tuple[str, bool, str]]:
    """Checks every artifact listed in an export's manifest, and the files of its TFLite Micro
    bundles and Vela compiles.

    Returns:
        ``(file name, ok, reason)`` per artifact; a name that leaves the folder is reported, never read.
    """
    export_dir = Path(export_dir)
    rows = []
    manifest = read_manifest(export_dir)
    for entry in manifest["artifacts"] + _bundle_entries(manifest):
        name = entry["path"]
        try:
            path = artifact_path(export_dir, entry)
        except IntegrityError:
            rows.append((name, False, "outside the export folder: not checked"))
            continue
        if not path.exists():
            rows.append((name, False, "missing"))
            continue
        try:
            size = require_regular_file(path, ModelError, "artifact")
        except ModelError:
            rows.append((name, False, "not a regular file"))
            continue
        if "sha256" not in entry or "size_bytes" not in entry:
            rows.append((name, False, "no sha256 or size in the manifest"))
        elif size != entry["size_bytes"]:
            rows.append((name, False, f"size {size} != {entry['size_bytes']} (truncated?)"))
        elif sha256_file(path) != entry["sha256"]:
            rows.append((name, False, "sha256 mismatch"))
        else:
            rows.append((name, True, "ok"))
    return rows
