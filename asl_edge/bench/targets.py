"""What a benchmark measures, and on which data: artifacts and export folders expanded into targets."""

from __future__ import annotations

from pathlib import Path

from asl_edge.runtime import runfolder
from asl_edge.runtime.errors import DataError, IntegrityError, ModelError
from asl_edge.runtime.preprocess import Preprocessing


# -- what to measure, on which data ---------------------------------------------------------------
def _source_run(export_dir: Path, manifest: dict) -> Path | None:
    """The export's run folder, when reachable: as recorded (relative to the working directory),
    or relative to the folder holding ``export/`` (an export moved together with its repository)."""
    from asl_edge.runtime.fsutil import printable, sha256_file

    source = manifest.get("source") or {}
    recorded, expected = source.get("run"), source.get("model_sha256")
    if not recorded or not expected:
        return None
    for candidate in (Path(recorded), export_dir.parent.parent / recorded, export_dir / recorded):
        model = candidate / runfolder.MODEL_FILE
        if model.is_file():
            # The manifest names the run: only the model it was exported from may be loaded
            # (a crafted manifest could point at any .keras file).
            if sha256_file(model) != expected:
                raise IntegrityError(f"{printable(model)} is not the model {printable(export_dir)} was exported from "
                                     "(its sha256 differs from manifest.json source.model_sha256): refusing it; "
                                     "benchmark the export's artifact files instead")
            return candidate
    return None


def expand_targets(paths) -> list[tuple[Path, dict | None, Path | None]]:
    """Artifacts to measure, as ``(path, manifest or None, run folder or None)``.

    A file is measured as given; an export folder gives its manifest's artifacts (in manifest
    order) after the source Keras model when its run folder is reachable.

    Raises:
        DataError: a path that does not exist.
        ModelError: a folder that is not an export (no or a damaged manifest).
    """
    from asl_edge.runtime.integrity import MANIFEST, export_artifacts, read_manifest

    out = []
    for p in map(Path, paths):
        if p.is_dir():
            manifest, artifacts = export_artifacts(p)
            run = _source_run(p, manifest)
            if run is not None:
                out.append((run / runfolder.MODEL_FILE, manifest, run))
            out.extend((path, manifest, run) for _, path in artifacts)
        elif p.is_file():
            manifest = read_manifest(p.parent) if (p.parent / MANIFEST).exists() else None
            run = p.parent if p.suffix == ".keras" else _source_run(p.parent, manifest) if manifest else None
            out.append((p, manifest, run))
        else:
            from asl_edge.runtime.fsutil import require_regular_file

            require_regular_file(p, DataError, "artifact")
    return out


def split_of(desc, manifest: dict | None = None, run_folder: str | Path | None = None) -> dict | None:
    """The split identity a model was held out on: embedded in the artifact (``asl_edge.split``),
    else its run folder's split (``run_folder``, the run of the manifest beside it, or the run
    folder of a Keras model); ``None`` when none is known."""
    from asl_edge.data.identity import split_identity
    from asl_edge.runtime.integrity import MANIFEST, read_manifest

    if desc.metadata.get("split"):
        return desc.metadata["split"]
    run = desc.run
    if run is None:
        folder = run_folder
        if folder is None and manifest is None and (desc.path.parent / MANIFEST).is_file():
            try:
                manifest = read_manifest(desc.path.parent)
            except ModelError:
                manifest = None
        if folder is None and manifest is not None:
            folder = _source_run(desc.path.parent, manifest)
        try:
            run = runfolder.load_run(folder) if folder else None
        except ModelError:
            run = None
    return split_identity(run.split) if run is not None and run.split is not None else None


def bench_data(preprocessing: Preprocessing, manifest: dict | None = None, data: str | None = None,
               run_folder: str | Path | None = None, identity: dict | None = None):
    """The images a benchmark measures accuracy on.

    ``data`` when given (the whole of it); else the held-out split ``identity`` names (the
    artifact's own, see :func:`split_of`), else the run's (``run_folder``, or the one the manifest
    names); else the whole built-in set, said so. Images are loaded with ``preprocessing`` (the
    artifact's own).

    Returns:
        :class:`~asl_edge.data.identity.EvalData`: the images, a description naming the data and
        the count, and whether they include training images.
    """
    from asl_edge.data.identity import eval_data, split_identity

    if identity is None:
        folder = run_folder
        if folder is None and manifest is not None:
            folder = (manifest.get("source") or {}).get("run")
        try:
            run = runfolder.load_run(folder) if folder else None
        except ModelError:
            run = None
        if run is not None and run.split is not None:
            identity = split_identity(run.split)
    return eval_data(preprocessing, identity, data)
