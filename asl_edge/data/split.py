"""Train/validation/test splits that never put one signer on two sides.

With group ids (signers) the split is scikit-learn's ``StratifiedGroupKFold``: the test fold is
one of ``round(1 / test_fraction)`` folds, then validation is carved the same way out of the rest.
Without groups it falls back to a stratified image-level split and says so in the record, since
such a split overstates accuracy on new people.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from asl_edge.runtime.errors import DataError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Split:
    """Indices of each part and how they were chosen."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    method: str
    seed: int

    def describe(self, groups: np.ndarray | None) -> dict:
        """A JSON-ready record for ``metrics.json`` and ``split.json``."""
        out = {"method": self.method, "seed": self.seed,
               "sizes": {k: int(len(getattr(self, k))) for k in ("train", "val", "test")}}
        if groups is not None:
            out["groups"] = {k: int(len(np.unique(groups[getattr(self, k)]))) for k in ("train", "val", "test")}
        return out

    def to_dict(self, groups: np.ndarray | None) -> dict:
        out = self.describe(groups)
        out.update({k: getattr(self, k).tolist() for k in ("train", "val", "test")})
        return out

    @classmethod
    def from_dict(cls, d: dict) -> Split:
        return cls(*(np.asarray(d[k], np.int64) for k in ("train", "val", "test")), d["method"], d["seed"])


def _one_fold(labels, groups, fraction, seed):
    from sklearn.model_selection import StratifiedGroupKFold

    n_groups = len(np.unique(groups))
    if n_groups < 2:
        raise DataError(f"only {n_groups} group (signer): a split by signer needs at least 2")
    n_splits = max(2, round(1 / fraction))
    if n_groups < n_splits:
        # A small fraction of few signers is less than one signer: the part gets one whole signer
        # (the fast recipe's 5% validation split of a 12-signer folder, for example).
        log.warning("%d signers: too few for a %.0f%% split by signer; that part holds one signer (%.0f%%)",
                    n_groups, 100 * fraction, 100 / n_groups)
        n_splits = n_groups
    folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return next(folds.split(np.zeros(len(labels)), labels, groups))


def split_dataset(labels: np.ndarray, groups: np.ndarray | None, val_fraction: float = 0.15,
                  test_fraction: float = 0.15, seed: int = 0) -> Split:
    """Splits sample indices into train, validation and test.

    Args:
        labels: class index per sample.
        groups: signer id per sample, or ``None``.
        val_fraction: share of samples (roughly, by whole groups) for validation.
        test_fraction: share for the test split.
        seed: random seed.

    Raises:
        DataError: too few samples or groups for the requested split.
    """
    labels = np.asarray(labels)
    if not (0 < val_fraction < 0.5 and 0 < test_fraction < 0.5):
        raise DataError("val_fraction and test_fraction must each lie between 0 and 0.5")
    index = np.arange(len(labels))
    if groups is not None:
        rest, test = _one_fold(labels, groups, test_fraction, seed)
        sub_train, sub_val = _one_fold(labels[rest], groups[rest], val_fraction / (1 - test_fraction), seed + 1)
        return Split(index[rest][sub_train], index[rest][sub_val], index[test], "stratified-group (by signer)", seed)
    from sklearn.model_selection import train_test_split

    try:
        rest, test = train_test_split(index, test_size=test_fraction, stratify=labels, random_state=seed)
        train, val = train_test_split(rest, test_size=val_fraction / (1 - test_fraction),
                                      stratify=labels[rest], random_state=seed + 1)
    except ValueError as exc:
        raise DataError(f"cannot split the data: {exc}") from None
    return Split(train, val, test, "stratified (image level: no signer ids known)", seed)
