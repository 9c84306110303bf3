"""Model compression with tensorflow-model-optimization, following its own pipelines.

- pruning: ``prune_low_magnitude`` with a ``PolynomialDecay`` schedule (or 2:4 structured
  sparsity), fine-tuned with ``UpdatePruningStep``, then ``strip_pruning``;
- clustering: ``cluster_weights`` then ``strip_clustering``; after pruning, sparsity-preserving
  clustering (``preserve_sparsity=True``) so the zeros stay zeros;
- quantisation-aware training: ``quantize_annotate_model`` + ``quantize_apply``, with the
  sparsity-preserving scheme after pruning (PQAT), the cluster-preserving one after clustering
  (CQAT) and the cluster-preserving one with ``preserve_sparsity`` after both (PCQAT), so QAT does
  not undo them. These are tfmot's collaborative-optimisation pipelines:
  https://www.tensorflow.org/model_optimization/guide/combine/collaborative_optimization

Nothing here re-implements what tfmot does.
"""

from __future__ import annotations

import logging
import math

import numpy as np

log = logging.getLogger(__name__)


def copy_model(model):
    """An independent copy of ``model`` (new layers, same weights).

    tfmot's wrappers (``prune_low_magnitude``, ``cluster_weights``, ``quantize_apply``) reuse the
    layers of the model they wrap, so fine-tuning the wrapped model rewrites the original's
    weights too; every compression step therefore starts from a copy, and the trained model the
    manifest records as ``source`` stays as it was.
    """
    from asl_edge.keras_compat import keras

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def _fit(model, train, val, epochs: int, lr: float, callbacks=(), desc: str = "fine-tuning"):
    from asl_edge.keras_compat import keras
    from asl_edge.training.progress import epoch_bar

    model.compile(keras.optimizers.Adam(lr), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(train, validation_data=val, epochs=epochs, verbose=0, callbacks=[*callbacks, epoch_bar(epochs, desc)])
    return model


def prune(model, train, val, target_sparsity: float, epochs: int, steps_per_epoch: int,
          structured_2_4: bool = False, lr: float = 5e-4):
    """Magnitude pruning to ``target_sparsity`` (or 2:4 structured), fine-tuned, then stripped.

    Args:
        model: flat functional Keras model.
        train, val: ``tf.data`` datasets of (image, label).
        target_sparsity: final fraction of zero weights in each pruned kernel.
        epochs: fine-tuning epochs; the schedule ramps over the first two thirds of them.
        steps_per_epoch: steps in one epoch of ``train``.
        structured_2_4: two zeros in every block of four (hardware-friendly) instead of a target.
        lr: fine-tuning learning rate.
    """
    from asl_edge.keras_compat import tfmot as load_tfmot

    tfmot = load_tfmot()

    sparsity = tfmot.sparsity.keras
    end_step = max(1, math.ceil(epochs * steps_per_epoch * 2 / 3))
    if structured_2_4:
        params = {"sparsity_m_by_n": (2, 4)}
    else:
        params = {
            "pruning_schedule": sparsity.PolynomialDecay(
                0.0, target_sparsity, 0, end_step, frequency=max(1, end_step // 20)
            )
        }
    pruned = sparsity.prune_low_magnitude(copy_model(model), **params)
    _fit(pruned, train, val, epochs, lr, [sparsity.UpdatePruningStep()])
    return sparsity.strip_pruning(pruned)


def cluster(model, train, val, n_clusters: int, epochs: int, preserve_sparsity: bool = False, lr: float = 5e-4):
    """Weight clustering into ``n_clusters`` shared values per kernel, fine-tuned, then stripped.

    Args:
        preserve_sparsity: keep the zeros of an already pruned model (zero stays its own cluster).
    """
    from asl_edge.keras_compat import tfmot as load_tfmot

    tfmot = load_tfmot()

    clustering = tfmot.clustering.keras
    clustered = clustering.cluster_weights(
        copy_model(model),
        number_of_clusters=n_clusters,
        cluster_centroids_init=clustering.CentroidInitialization.KMEANS_PLUS_PLUS,
        preserve_sparsity=preserve_sparsity,
    )
    _fit(clustered, train, val, epochs, lr)
    return clustering.strip_clustering(clustered)


def quantize_aware(model, train, val, epochs: int, preserve: str | None = None, lr: float = 2e-4):
    """Quantisation-aware training; ``preserve`` (``prune``, ``cluster`` or ``prune+cluster``) keeps
    the earlier compression.

    Returns:
        The QAT model (fake-quant nodes in place), ready for TFLite int8 conversion.
    """
    from asl_edge.keras_compat import tfmot as load_tfmot

    tfmot = load_tfmot()

    quantize = tfmot.quantization.keras
    annotated = quantize.quantize_annotate_model(copy_model(model))
    clustered = preserve in ("cluster", "prune+cluster")
    if preserve == "prune":
        scheme = tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme()
    elif clustered:
        scheme = tfmot.experimental.combine.Default8BitClusterPreserveQuantizeScheme(
            preserve_sparsity=preserve == "prune+cluster"
        )
    else:
        scheme = quantize.default_8bit.Default8BitQuantizeScheme()
    qat = quantize.quantize_apply(annotated, scheme)
    if not clustered:
        return _fit(qat, train, val, epochs, lr)
    # Cluster-preserving QAT trains the centroids, not the kernels, so Keras warns once per step
    # that the kernels get no gradient; expected, and noise for a user.
    tf_log = logging.getLogger("tensorflow")
    tf_log.addFilter(_no_kernel_gradient)
    try:
        return _fit(qat, train, val, epochs, lr)
    finally:
        tf_log.removeFilter(_no_kernel_gradient)


def _no_kernel_gradient(record: logging.LogRecord) -> bool:
    return "Gradients do not exist for variables" not in record.getMessage()


def sparsity(model) -> float:
    """Fraction of exactly-zero weights over the kernels tfmot prunes (convolutions and dense layers)."""
    zeros = total = 0
    for layer in model.layers:
        for w in layer.weights:
            name = w.name.split("/")[-1]
            if ("kernel" in name) and w.shape.rank and w.shape.rank > 1:
                values = np.asarray(w.numpy())
                zeros += int((values == 0).sum())
                total += values.size
    return zeros / total if total else 0.0


def unique_weights(model) -> int:
    """The largest number of distinct values in any kernel (clustering check)."""
    counts = [
        len(np.unique(w.numpy()))
        for layer in model.layers
        for w in layer.weights
        if "kernel" in w.name.split("/")[-1] and w.shape.rank and w.shape.rank > 1
    ]
    return max(counts) if counts else 0
