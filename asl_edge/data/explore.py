"""``asl-edge data-info``: class counts, image sizes, imbalance, signers and a sample grid."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from asl_edge.data.dataset import ImageDataset
from asl_edge.runtime.fsutil import atomic_path


def original_sizes(ds: ImageDataset, limit: int = 5000) -> Counter:
    """Counts the original (width, height) of the source files (up to ``limit``, from headers only)."""
    from PIL import Image

    if ds.source == "builtin":
        return Counter()
    paths = ds.paths
    if paths is None and Path(ds.source).is_dir():
        from asl_edge.data.loaders import _list_paths

        paths = _list_paths(Path(ds.source))
    sizes: Counter = Counter()
    for p in (paths or [])[:limit]:
        try:
            with Image.open(p) as img:
                sizes[img.size] += 1
        except OSError:
            sizes["unreadable"] += 1
    return sizes


def summarize(ds: ImageDataset) -> dict:
    """Class counts, imbalance ratio, image sizes and group (signer) counts."""
    counts = np.bincount(ds.labels, minlength=ds.num_classes)
    present = counts[counts > 0]
    summary = {
        "source": ds.source,
        "images": int(len(ds)),
        "classes": ds.num_classes,
        "class_counts": {name: int(c) for name, c in zip(ds.class_names, counts)},
        "imbalance_ratio": float(present.max() / present.min()),
        "model_input": list(ds.preprocessing.input_shape),
        "original_sizes": {f"{k[0]}x{k[1]}" if isinstance(k, tuple) else k: v
                           for k, v in original_sizes(ds).most_common(10)},
        "signers": None if ds.groups is None else int(len(np.unique(ds.groups))),
    }
    if ds.groups is not None:
        per_group = np.unique(ds.groups, return_counts=True)[1]
        summary["images_per_signer"] = {"min": int(per_group.min()), "median": float(np.median(per_group)),
                                        "max": int(per_group.max())}
    return summary


def format_summary(s: dict) -> str:
    lines = [f"data: {s['source']}  images: {s['images']}  classes: {s['classes']}  "
             f"model input: {'x'.join(map(str, s['model_input']))}"]
    if s["signers"] is not None:
        ips = s["images_per_signer"]
        lines.append(f"signers: {s['signers']} (images per signer: min {ips['min']}, median {ips['median']:g}, "
                     f"max {ips['max']})")
    else:
        lines.append("signers: unknown (split will be image-level; pass --groups for a split by signer)")
    if s["original_sizes"]:
        lines.append("original sizes: " + ", ".join(f"{k} ({v})" for k, v in s["original_sizes"].items()))
    width = max(len(n) for n in s["class_counts"])
    top = max(s["class_counts"].values())
    for name, count in s["class_counts"].items():
        lines.append(f"  {name:>{width}} {count:6d} {'#' * round(30 * count / top)}")
    lines.append(f"imbalance (largest / smallest class): {s['imbalance_ratio']:.2f}")
    return "\n".join(lines)


def sample_grid(ds: ImageDataset, dest: str | Path, per_class: int = 6, seed: int = 0) -> Path:
    """Writes a PNG grid with ``per_class`` random samples of each class (one row per class)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(seed)
    rows = ds.num_classes
    fig, axes = plt.subplots(rows, per_class, figsize=(per_class * 1.1, rows * 1.15), squeeze=False)
    for c in range(rows):
        index = np.flatnonzero(ds.labels == c)
        chosen = rng.choice(index, size=min(per_class, len(index)), replace=False) if len(index) else []
        images = ds.load_images(np.asarray(chosen, int)) if len(chosen) else []
        for j in range(per_class):
            ax = axes[c, j]
            ax.axis("off")
            if j < len(images):
                img = images[j]
                ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray" if img.shape[-1] == 1 else None)
        axes[c, 0].set_title(ds.class_names[c], fontsize=8, loc="left")
    fig.tight_layout()
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    return Path(dest)
