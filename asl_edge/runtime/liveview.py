"""What the live loop shows: each frame with the hand's box, the label with its confidence and the
frame rate, in a window (:class:`Window`, ``--show``) or streamed to browsers
(:class:`asl_edge.runtime.mjpeg.MjpegServer`, ``--serve``).

Both draw with :func:`annotate` (Pillow, in the base install), so streaming needs no OpenCV; only
the window does, and only an OpenCV built with a GUI on a machine with a display can open one.
"""

from __future__ import annotations

import functools
import os
import re
import sys

import numpy as np

from asl_edge.runtime.errors import AslEdgeError

BOX_COLOUR = (0, 255, 0)
BAND_COLOUR = (0, 0, 0)
# The label's size on a 240-pixel-high frame; larger frames scale it (and the box's line) up.
TEXT_PX = 16
SERVE_HINT = "stream the annotated video to a browser instead with --serve 8080"


def caption(result) -> str:
    """The line drawn on a frame: label and confidence (or "no hand"), and frames per second."""
    what = f"{result.label} ({result.probability:.2f})" if result.label is not None else "no hand"
    return f"{what}  {result.fps:.1f} fps"


@functools.lru_cache(maxsize=8)
def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)  # a scalable font from Pillow 10.1 (with FreeType)
    except (TypeError, ImportError, OSError):
        return ImageFont.load_default()


def annotate(rgb, result):
    """A copy of an RGB PIL frame with the result drawn on it: the hand's box (models with a
    localiser), and on a dark band at the top left the caption (:func:`caption`)."""
    from PIL import ImageDraw

    image = rgb.convert("RGB") if rgb.mode != "RGB" else rgb.copy()
    scale = max(1, round(image.height / 240))
    draw = ImageDraw.Draw(image)
    if result.box is not None:
        x0, y0, x1, y1 = (int(round(v)) for v in result.box)
        draw.rectangle((min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)), outline=BOX_COLOUR, width=2 * scale)
    font = _font(TEXT_PX * scale)
    origin = (6 * scale, 4 * scale)
    left, top, right, bottom = draw.textbbox(origin, caption(result), font=font)
    draw.rectangle((left - 3 * scale, top - 3 * scale, right + 3 * scale, bottom + 3 * scale), fill=BAND_COLOUR)
    draw.text(origin, caption(result), fill=BOX_COLOUR, font=font)
    return image


def window_problem(cv2) -> str | None:
    """Why OpenCV cannot open a window here (``None``: it may). Checked before any window is tried:
    a Qt build of OpenCV without a display aborts the whole process instead of raising."""
    gui = re.search(r"^\s*GUI:\s*(\S+)", cv2.getBuildInformation(), re.MULTILINE)
    if gui is not None and gui.group(1).upper() == "NONE":
        return "this OpenCV is built without windows (opencv-python-headless, as the camera extra installs)"
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "there is no display here (DISPLAY is not set: a headless device, or ssh without -X)"
    return None


class Window:
    """An OpenCV window showing annotated frames (``--show``); ``q`` in it stops the loop.

    Raises:
        AslEdgeError: no window can open here (no OpenCV, :func:`window_problem`), in one line
            that says to use ``--serve`` instead.
    """

    def __init__(self, title: str = "asl-edge"):
        try:
            import cv2
        except ImportError:
            cv2, problem = None, "OpenCV is not installed (on a desktop: pip install opencv-python)"
        else:
            problem = window_problem(cv2)
        if problem is None:
            try:
                cv2.namedWindow(title, cv2.WINDOW_AUTOSIZE)
            except cv2.error as exc:
                text = str(exc).strip()
                problem = "OpenCV cannot open one (" + (text.splitlines()[-1] if text else "cv2.error") + ")"
        if problem is not None:
            raise AslEdgeError(f"--show needs a window, and {problem}: {SERVE_HINT}")
        self.cv2, self.title = cv2, title

    def __call__(self, rgb, result) -> bool:
        """Shows one frame; true when ``q`` was pressed."""
        self.cv2.imshow(self.title, np.ascontiguousarray(np.asarray(annotate(rgb, result))[..., ::-1]))
        return self.cv2.waitKey(1) & 0xFF == ord("q")

    def close(self) -> None:
        try:
            self.cv2.destroyWindow(self.title)
        except self.cv2.error:  # already closed by the user
            pass

    def __enter__(self) -> Window:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
