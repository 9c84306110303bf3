"""Background photographs that ship inside installed packages: the one table of them.

Nothing is downloaded and every licence is known. :data:`BACKGROUNDS` names each photograph's
package, its path inside the package, its split, licence and source as each package documents it
(scikit-image: the docstrings of ``skimage/data/_fetchers.py``; scikit-learn:
``sklearn/datasets/images/README.txt``). The camera shifts' TEST photograph ships inside asl-edge
itself (``assets/backgrounds/SOURCE.md``), so the runtime-only install needs neither package.
``train`` photographs are for training only (scene composites, background replacement), ``test``
ones for measuring only (the scene test set, the ``bg_scene`` camera shift); the two never overlap.
The images are read from the installed package without importing it (NumPy and Pillow only);
a missing package raises :class:`DataError` naming it.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

from asl_edge.runtime.errors import DataError


@dataclass(frozen=True)
class Background:
    package: str
    path: str
    split: str
    licence: str
    source: str


BACKGROUNDS: dict[str, Background] = {
    # -- TEST: only the scene test set uses these ------------------------------------------------
    "coffee": Background("skimage", "data/coffee.png", "test", "CC0",
                         "scikit-image data.coffee(): coffee cup on a wooden table, photo Rachel Michetti "
                         "(courtesy of Pikolo Espresso Bar)"),
    "rocket": Background("skimage", "data/rocket.jpg", "test", "public domain",
                         "scikit-image data.rocket(): DSCOVR launch on Falcon 9, photo SpaceX"),
    "astronaut": Background("skimage", "data/astronaut.png", "test", "public domain",
                            "scikit-image data.astronaut(): Eileen Collins, NASA Great Images"),
    "china": Background("asl_edge.runtime", "assets/backgrounds/china.jpg", "test", "CC-BY-2.0",
                        "scikit-learn load_sample_images(): china.jpg, photo danielbuechele (Flickr), "
                        "https://www.flickr.com/photos/danielbuechele/6061409035 (a copy ships in asl-edge)"),
    # -- TRAIN: only training composites use these ------------------------------------------------
    "chelsea": Background("skimage", "data/chelsea.png", "train", "CC0",
                          "scikit-image data.chelsea(): Chelsea the cat, photo Stefan van der Walt"),
    "flower": Background("sklearn", "datasets/images/flower.jpg", "train", "CC-BY-2.0",
                         "scikit-learn load_sample_images(): flower.jpg, photo vultilion (Flickr), "
                         "https://www.flickr.com/photos/vultilion/6056698931"),
    "camera": Background("skimage", "data/camera.png", "train", "CC0",
                         "scikit-image data.camera(): man with a camera, photo Lav Varshney (grey)"),
    "clock": Background("skimage", "data/clock_motion.png", "train", "public domain",
                        "scikit-image data.clock(): motion-blurred clock, photo Stefan van der Walt (grey)"),
    "brick": Background("skimage", "data/brick.png", "train", "CC0",
                        "scikit-image data.brick(): brick wall, CC0Textures Bricks25 (grey)"),
    "grass": Background("skimage", "data/grass.png", "train", "CC0",
                        "scikit-image data.grass(): grass, CC0 (grey)"),
    "gravel": Background("skimage", "data/gravel.png", "train", "CC0",
                         "scikit-image data.gravel(): gravel, CC0Textures Gravel04 (grey)"),
}


def background_names(split: str) -> list[str]:
    """Names of the ``train`` or ``test`` backgrounds, in table order."""
    if split not in ("train", "test"):
        raise DataError(f"background split must be 'train' or 'test', got '{split}'")
    return [name for name, bg in BACKGROUNDS.items() if bg.split == split]


def background_path(name: str) -> Path:
    """Where background ``name`` lies in its installed package.

    Raises:
        DataError: unknown name, or its package is not installed.
    """
    if name not in BACKGROUNDS:
        raise DataError(f"unknown background '{name}'; choose one of: {', '.join(BACKGROUNDS)}")
    bg = BACKGROUNDS[name]
    spec = importlib.util.find_spec(bg.package)
    if spec is None or not spec.submodule_search_locations:
        pip = {"skimage": "scikit-image", "sklearn": "scikit-learn"}.get(bg.package, bg.package)
        raise DataError(f"background '{name}' ships in {pip}, which is not installed: pip install {pip}")
    path = Path(list(spec.submodule_search_locations)[0]) / bg.path
    if not path.is_file():
        raise DataError(f"background '{name}' is missing from the installed {bg.package}: {path}")
    return path


@cache
def load_background(name: str) -> np.ndarray:
    """Background ``name`` as a read-only RGB ``uint8`` array (grey photographs repeated on 3
    channels), decoded once per process."""
    with Image.open(background_path(name)) as img:
        out = np.asarray(img.convert("RGB"))
    out.setflags(write=False)
    return out
