"""The data a run folder was trained on, reloaded from its split record."""

from __future__ import annotations

import numpy as np

from asl_edge.data.loaders import load_dataset
from asl_edge.runtime.errors import ModelError
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
    ds = load_dataset(run.split["source"], run.preprocessing, groups_file=run.split.get("groups_file"), stream=stream)
    return ds.subset(np.asarray(run.split[part], np.int64))

