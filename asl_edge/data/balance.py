"""Class balancing with scikit-learn and imbalanced-learn: weights, over- and undersampling."""

from __future__ import annotations

import numpy as np

from asl_edge.runtime.errors import ConfigError

BALANCING = ("none", "class_weight", "oversample", "undersample")


def class_weights(labels: np.ndarray, num_classes: int) -> dict[int, float]:
    """Returns ``{class: weight}`` inversely proportional to class frequency (sklearn 'balanced')."""
    from sklearn.utils.class_weight import compute_class_weight

    present = np.unique(labels)
    weights = compute_class_weight("balanced", classes=present, y=labels)
    out = {int(c): 1.0 for c in range(num_classes)}
    out.update({int(c): float(w) for c, w in zip(present, weights)})
    return out


def resample_index(labels: np.ndarray, method: str, seed: int = 0) -> np.ndarray:
    """Returns sample indices, resampled so every class is equally frequent.

    Args:
        labels: class index per sample.
        method: ``oversample`` (imblearn RandomOverSampler), ``undersample``
            (RandomUnderSampler) or ``none``/``class_weight`` (identity).
        seed: random seed.
    """
    if method not in BALANCING:
        raise ConfigError(f"unknown balancing '{method}'; choose one of: {', '.join(BALANCING)}")
    index = np.arange(len(labels))
    if method in ("none", "class_weight"):
        return index
    from imblearn.over_sampling import RandomOverSampler
    from imblearn.under_sampling import RandomUnderSampler

    sampler = (RandomOverSampler if method == "oversample" else RandomUnderSampler)(random_state=seed)
    resampled, _ = sampler.fit_resample(index.reshape(-1, 1), labels)
    return resampled.ravel()
