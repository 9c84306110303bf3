"""Where ``asl-edge predict --camera SOURCE`` reads its frames: one table of camera sources.

Every source opens to an OpenCV-style capture (``read() -> (ok, bgr_frame)``, ``release()``), the
shape :func:`asl_edge.runtime.stream.camera_loop` reads. USB cameras, video files and stream
URLs go through OpenCV (the ``camera`` extra); the Raspberry Pi's ribbon-cable (CSI) camera goes
through picamera2, which Raspberry Pi OS ships as an apt package (built against its libcamera), not
through pip.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from asl_edge.runtime.errors import AslEdgeError, ConfigError, MissingDependencyError
from asl_edge.runtime.extras import install_hint

# What a Pi user runs to get picamera2: the apt package, seen from a venv only when the venv was
# made with --system-site-packages.
PICAMERA_INSTALL = ("sudo apt install -y python3-picamera2, in a venv made with "
                    "'python3 -m venv --system-site-packages'")
# picamera2's frame size: 640x480 keeps a Pi 4's loop at camera rate and is what the camera
# recipe's hand models were measured on (scene frames are 320x240 and up).
PICAMERA_SIZE = (640, 480)
_PICAMERA = re.compile(r"picamera(?::(\d+))?", re.IGNORECASE)


@dataclass(frozen=True)
class CameraSource:
    """One kind of ``--camera`` value.

    Attributes:
        name: the kind's name.
        example: a value of that kind, as typed.
        reads: what it reads.
        needs: what installs the library it reads through (the error when it is missing says it).
        matches: whether a ``--camera`` value is of this kind.
        open: opens such a value to a capture.
    """

    name: str
    example: str
    reads: str
    needs: str
    matches: Callable[[str], bool]
    open: Callable[[str], object]


def camera_sources() -> tuple[CameraSource, ...]:
    """The table: the first source whose ``matches`` accepts a ``--camera`` value opens it."""
    opencv = install_hint("camera")
    return (
        CameraSource("usb", "0", "a USB (or built-in) camera by its index (0 is /dev/video0)", opencv,
                     _is_index, _open_opencv),
        CameraSource("picamera", "picamera", "the Raspberry Pi's ribbon-cable camera (picamera:1 for a second one)",
                     PICAMERA_INSTALL, _is_picamera, _open_picamera),
        CameraSource("file", "clip.mp4", "a video file, or a stream URL (rtsp://, http://)", opencv,
                     _is_video, _open_opencv),
    )


def camera_source(value: str) -> CameraSource:
    """The table's row for a ``--camera`` value.

    Raises:
        ConfigError: no row takes it (a misspelt name, a file that does not exist).
    """
    value = str(value).strip()
    for source in camera_sources():
        if value and source.matches(value):
            return source
    kinds = "; ".join(f"{s.example} ({s.reads})" for s in camera_sources())
    raise ConfigError(f"--camera {value!r} is no camera source, nor a video file that exists: give {kinds}")


def open_camera(value) -> object:
    """Opens a ``--camera`` value (``0``, ``picamera``, ``clip.mp4``) through its table row.

    Raises:
        ConfigError: not a camera source.
        MissingDependencyError: the library its row reads through is not installed.
        AslEdgeError: no such camera, or it is in use.
    """
    value = str(value).strip()
    return camera_source(value).open(value)


def _is_index(value: str) -> bool:
    return value.isascii() and value.isdigit()  # str.isdigit alone takes "²", which int() refuses


def _is_picamera(value: str) -> bool:
    return _PICAMERA.fullmatch(value) is not None


def _is_video(value: str) -> bool:
    return "://" in value or Path(value).is_file()


def _open_opencv(value: str):
    from asl_edge.runtime.extras import require
    from asl_edge.runtime.quiet import quiet_native_stderr

    cv2 = require("cv2", "camera")
    with quiet_native_stderr():  # OpenCV's capture backends print their own lines for a missing camera
        capture = cv2.VideoCapture(int(value) if _is_index(value) else value)
        opened = capture.isOpened()
    if not opened:
        what = (f"camera {value}: no such camera, or it is in use" if _is_index(value)
                else f"{value}: not a video OpenCV can read, or the stream does not answer")
        raise AslEdgeError(f"cannot open {what}")
    return capture


def _import_picamera2():
    """picamera2's ``Picamera2`` class, or a one-line error naming what to install."""
    if os.environ.get("ASL_EDGE_NATIVE_LOGS") != "1":
        # libcamera logs every configuration at INFO on stderr, burying asl-edge's lines; its own
        # variable (read when it starts) keeps errors only, as quiet_native_stderr does for OpenCV.
        os.environ.setdefault("LIBCAMERA_LOG_LEVELS", "*:ERROR")
    try:
        from picamera2 import Picamera2
    except ModuleNotFoundError as exc:
        if exc.name not in ("picamera2", "libcamera"):
            raise MissingDependencyError(f"picamera2 is installed but needs {exc.name!r}, which is not: "
                                         f"{PICAMERA_INSTALL}") from exc
        raise MissingDependencyError(f"--camera picamera needs picamera2, which is not installed here: "
                                     f"{PICAMERA_INSTALL}") from exc
    except ImportError as exc:  # e.g. apt's picamera2 built against another numpy than the venv's
        raise MissingDependencyError(f"picamera2 is installed but cannot be imported ({_first_line(exc)}): "
                                     f"{PICAMERA_INSTALL}") from exc
    return Picamera2


class PicameraCapture:
    """The Pi's ribbon-cable camera as an OpenCV-style capture.

    picamera2's "RGB888" format lays each pixel out as B, G, R in memory (libcamera's names follow
    the kernel's, https://github.com/raspberrypi/picamera2/issues/848): the BGR that OpenCV
    cameras deliver, so both kinds of source feed the loop the same frames.
    """

    def __init__(self, camera_num: int = 0, size: tuple[int, int] = PICAMERA_SIZE):
        picamera2 = _import_picamera2()
        try:
            self._camera = picamera2(camera_num)
        except Exception as exc:  # IndexError (no such camera), RuntimeError (in use): libcamera's wording
            raise AslEdgeError(f"cannot open the Pi camera {camera_num} ({_first_line(exc)}): check its ribbon "
                               "cable and that 'rpicam-hello --list-cameras' lists it") from exc
        self._camera.configure(self._camera.create_video_configuration(main={"size": size, "format": "RGB888"}))
        self._camera.start()

    def read(self):
        return True, self._camera.capture_array("main")

    def release(self) -> None:
        try:
            self._camera.stop()
        finally:
            self._camera.close()


def _open_picamera(value: str) -> PicameraCapture:
    number = _PICAMERA.fullmatch(value).group(1)
    return PicameraCapture(int(number or 0))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
