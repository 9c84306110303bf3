"""The data a run folder was trained on, reloaded from its split record."""

from __future__ import annotations

import numpy as np

from asl_edge.data.loaders import load_dataset
from asl_edge.runtime.errors import ModelError
from asl_edge.runtime.fsutil import printable
from asl_edge.runtime.runfolder import Run


def run_dataset(run: Run, data: str | None = None, part: str = "test", stream: bool | None = None):
    """Reloads the data a run was trained on and returns one part of its split.

    Args:
        run: the run.
        data: another data source; then the whole of it is returned.
        part: ``train``, ``val`` or ``test``.
        stream: stream folder trees from disk (``None``: decide by size, see :func:`load_dataset`).

    Returns:
        An :class:`~asl_edge.data.ImageDataset` preprocessed as the run records.
    """
    if data is not None:
        return load_dataset(data, run.preprocessing, stream=stream)
    if run.split is None:
        raise ModelError(f"{run.folder} records no data split: pass --data")
    split = run.split
    source, groups = split.get("source"), split.get("groups_file")
    if not isinstance(source, str) or not (groups is None or isinstance(groups, str)) \
            or not isinstance(split.get(part), list):
        raise ModelError(f"{printable(run.folder)}/split.json is damaged (source, groups_file or {part} indices): "
                         "pass --data")
    ds = load_dataset(source, run.preprocessing, groups_file=groups, stream=stream)
    try:
        index = np.asarray(split[part], np.int64)
    except (ValueError, TypeError, OverflowError):
        index = None
    if index is None or index.ndim != 1 or (index.size and (index.min() < 0 or index.max() >= len(ds))):
        raise ModelError(f"{printable(run.folder)}/split.json: the {part} indices do not fit {printable(source)} "
                         f"({len(ds)} images): the data changed since training, or the file is damaged; pass --data")
    return ds.subset(index)

