"""Data sets: loaders, signer-aware splits, class balancing, exploration and streaming."""

from asl_edge.data.dataset import ImageDataset
from asl_edge.data.loaders import BUILTIN, load_dataset

__all__ = ["BUILTIN", "ImageDataset", "load_dataset"]
