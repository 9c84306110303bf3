"""What a live loop shows: the MJPEG stream to browsers (--serve), the window (--show) where one can
open, and the table of camera sources (USB index, the Pi's ribbon-cable camera, a video file)."""

from __future__ import annotations

import http.client
import io
import json
import socket
import sys
import threading
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from asl_edge.runtime import cameras, liveview, mjpeg
from asl_edge.runtime.errors import AslEdgeError, ConfigError, MissingDependencyError
from asl_edge.runtime.stream import FrameResult

CAMERA_ARTIFACT = Path(__file__).parent.parent / "export/asl-digits-camera/asl-digits-camera_int8.tflite"
GREY = 120


def _frame(width: int = 320, height: int = 240) -> Image.Image:
    return Image.fromarray(np.full((height, width, 3), GREY, np.uint8))


def _open(server, path: str) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", path)
    return conn.getresponse()


def _parts(response):
    """The JPEG parts of a multipart/x-mixed-replace response, as (headers, body)."""
    boundary = response.getheader("Content-Type").split("boundary=")[1].encode()
    while True:
        line = response.readline()
        if not line:
            return
        if line.strip() != b"--" + boundary:
            continue
        headers = {}
        while (line := response.readline()).strip():
            key, value = line.decode().split(":", 1)
            headers[key.strip().lower()] = value.strip()
        yield headers, response.read(int(headers["content-length"]))


def _decoded(jpeg: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB")).astype(int)


def _assert_annotated(pixels: np.ndarray, box, inside_grey: bool = True) -> None:
    """The box's edges green (the raw frame is not), the caption's band dark at the top left."""
    height, width = pixels.shape[:2]
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    row = y0 if 0 <= y0 < height else y1  # an edge inside the frame
    edge = pixels[row, max(x0, 0) + 5:min(x1, width) - 5]
    assert (edge[:, 1] - edge[:, 0]).mean() > 80 and (edge[:, 1] - edge[:, 2]).mean() > 80
    assert pixels[8:14, 12:40].mean() < GREY - 40
    if inside_grey:  # inside the box: the frame itself
        assert np.abs(pixels[(y0 + y1) // 2, (x0 + x1) // 2] - GREY).max() < 12


# -- the stream ------------------------------------------------------------------------------------
def test_the_server_streams_the_annotated_frames_as_jpeg_parts():
    box = (100.0, 60.0, 220.0, 190.0)
    with mjpeg.MjpegServer(0, "127.0.0.1") as server:
        assert server.urls() == [f"http://127.0.0.1:{server.port}/"]
        page = _open(server, "/")
        assert page.status == 200 and b'<img src="/stream.mjpg"' in page.read()
        assert _open(server, "/nothing").status == 404
        stream = _open(server, "/stream.mjpg")
        assert stream.status == 200 and stream.getheader("Content-Type").startswith("multipart/x-mixed-replace")
        parts = _parts(stream)
        server(_frame(), FrameResult(1, "3", 0.91, box, 14.0))
        headers, jpeg = next(parts)
        assert headers["content-type"] == "image/jpeg" and jpeg[:2] == b"\xff\xd8"
        first = _decoded(jpeg)
        assert first.shape == (240, 320, 3)
        _assert_annotated(first, box)
        server(_frame(), FrameResult(2, None, 0.0, None, 14.0))  # the next frame: no hand, so no box
        second = _decoded(next(parts)[1])
        x0, y0, x1, y1 = (int(v) for v in box)
        assert np.abs(second[y0, x0 + 5:x1 - 5] - GREY).max() < 12 and second[8:14, 12:40].mean() < GREY - 40
        single = _open(server, "/frame.jpg")
        assert single.status == 200 and _decoded(single.read()).shape == (240, 320, 3)
    with pytest.raises(OSError):  # closed: the port no longer answers
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()


def test_viewers_share_one_encoding_and_never_hold_up_the_loop():
    # The loop's publish only swaps the newest frame: with a viewer's thread stuck drawing a frame,
    # the loop still hands over frame after frame; each frame is drawn once for all viewers.
    drawing, release, drawn = threading.Event(), threading.Event(), []

    def render(frame, result):
        drawn.append(result.index)
        drawing.set()
        release.wait(10)
        return frame

    frames = mjpeg.LatestFrame(render)
    viewers = [threading.Thread(target=frames.wait, args=(0, 60)) for _ in range(3)]
    for v in viewers:
        v.start()
    while len(frames._changed._waiters) < 3:  # every viewer waiting for a first frame
        threading.Event().wait(0.01)
    frames.publish(_frame(), FrameResult(1, "3", 0.9, None, 15.0))
    assert drawing.wait(10)  # the frame woke them (their own wait is 60 s)
    loop = threading.Thread(target=lambda: [frames.publish(_frame(), FrameResult(i, "3", 0.9, None, 15.0))
                                            for i in range(2, 50)])
    loop.start()
    loop.join(10)
    assert not loop.is_alive()  # 48 frames handed over while a viewer was still drawing frame 1
    release.set()
    for v in viewers:
        v.join(10)
    # Each viewer took the newest frame when it got the lock back (1, or a later one for a viewer that
    # got it while the loop ran on), and no frame was drawn twice.
    assert drawn[0] == 1 and set(drawn) <= set(range(1, 50)) and len(drawn) == len(set(drawn))
    number, jpeg = frames.wait(0, 1)
    assert number == 49 and drawn[-1] == 49 and len(drawn) == len(set(drawn)) and jpeg[:2] == b"\xff\xd8"
    frames.close()
    assert frames.wait(number, 1) is None


def test_a_taken_port_is_one_line():
    with mjpeg.MjpegServer(0, "127.0.0.1") as server:
        with pytest.raises(AslEdgeError, match=f"cannot serve on 127.0.0.1 port {server.port}: .*--serve PORT"):
            mjpeg.MjpegServer(server.port, "127.0.0.1")


def _video(path: Path, frames: list[np.ndarray]) -> Path:
    cv2 = pytest.importorskip("cv2")
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 15, (320, 240))
    for frame in frames:
        writer.write(np.ascontiguousarray(frame[..., ::-1]))
    writer.release()
    return path


def _room() -> np.ndarray:
    """A built-in close-up of digit 0 (130 px) on grey, right of centre."""
    from test_stream import _resized

    frame = np.full((240, 320, 3), GREY, np.uint8)
    frame[90:220, 170:300] = _resized(0, 130)
    return frame


def test_cli_serve_streams_a_video_file_through_the_camera_model(tmp_path, monkeypatch, capsys):
    # The whole command: a video file written here, the camera model, --serve on any free port. A
    # viewer reads the stream while the loop runs (from inside the capture's read, so the loop is
    # mid-stream): the hand's box is drawn around the close-up.
    pytest.importorskip("ai_edge_litert")
    from asl_edge.cli import main

    video = _video(tmp_path / "room.avi", [_room()] * 6)
    servers, seen = [], []

    class Recorded(mjpeg.MjpegServer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            servers.append(self)

    real_open = cameras.open_camera

    class Watched:
        def __init__(self, value):
            self.capture, self.reads = real_open(value), 0

        def read(self):
            self.reads += 1
            if self.reads == 4:  # three frames published: a browser looks
                stream = _open(servers[0], "/stream.mjpg")
                seen.append(_decoded(next(_parts(stream))[1]))
                stream.close()
            return self.capture.read()

        def release(self):
            self.capture.release()

    monkeypatch.setattr(mjpeg, "MjpegServer", Recorded)
    monkeypatch.setattr(cameras, "open_camera", Watched)
    main(["predict", str(CAMERA_ARTIFACT), "--camera", str(video), "--serve", "0", "--bind", "127.0.0.1", "--json"])
    out, err = capsys.readouterr()
    err = err.strip().splitlines()
    assert err[0] == f"asl-edge: open http://127.0.0.1:{servers[0].port}/ in a browser on this network (Ctrl-C stops)"
    assert err[-1].startswith("6 frames")
    third = json.loads(out.splitlines()[2])
    assert third["frame"] == 3 and third["hand"]
    x0, y0, x1, y1 = third["box"]
    assert 170 < (x0 + x1) / 2 < 300 and 90 < (y0 + y1) / 2 < 220  # around the close-up
    assert len(seen) == 1 and seen[0].shape == (240, 320, 3)
    _assert_annotated(seen[0], third["box"], inside_grey=False)


def test_ctrl_c_closes_the_server_and_releases_the_camera(tmp_path, monkeypatch, capsys):
    pytest.importorskip("ai_edge_litert")
    from asl_edge.cli import main

    video = _video(tmp_path / "room.avi", [_room()] * 6)
    servers, captures, viewers = [], [], []

    class Recorded(mjpeg.MjpegServer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            servers.append(self)

    real_open = cameras.open_camera

    class Interrupted:
        def __init__(self, value):
            self.capture, self.reads, self.released = real_open(value), 0, 0
            captures.append(self)

        def read(self):
            self.reads += 1
            if self.reads == 3:
                viewers.append(_open(servers[0], "/stream.mjpg"))  # a browser watching when Ctrl-C comes
                next(_parts(viewers[0]))
            if self.reads == 4:
                raise KeyboardInterrupt
            return self.capture.read()

        def release(self):
            self.released += 1
            self.capture.release()

    monkeypatch.setattr(mjpeg, "MjpegServer", Recorded)
    monkeypatch.setattr(cameras, "open_camera", Interrupted)
    with pytest.raises(SystemExit) as stopped:
        main(["predict", str(CAMERA_ARTIFACT), "--camera", str(video), "--serve", "0", "--bind", "127.0.0.1"])
    assert stopped.value.code == 130 and capsys.readouterr().err.strip().endswith("asl-edge: aborted")
    assert captures[0].released == 1
    rest = viewers[0].read()  # the viewer's stream ends: read to its end (its socket times out otherwise)
    assert rest.lstrip(b"\r\n") == b"" or rest.lstrip(b"\r\n").startswith(b"--" + mjpeg.BOUNDARY.encode())
    assert not servers[0]._thread.is_alive()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", servers[0].port), timeout=2).close()


@pytest.mark.parametrize("args, message", [
    (["--serve", "8080"], "--show and --serve show live frames: give --camera SOURCE"),
    (["--show"], "--show and --serve show live frames: give --camera SOURCE"),
    (["--camera", "0", "--serve", "70000"], "--serve must be at most 65535"),
    (["--camera", "picamra", "--serve", "8080"], "is no camera source"),
])
def test_serve_options_that_cannot_work_are_one_line(args, message, capsys):
    from asl_edge.cli import main

    with pytest.raises(SystemExit) as failed:
        main(["predict", str(CAMERA_ARTIFACT), *args])
    err = capsys.readouterr().err
    assert failed.value.code != 0 and message in err and "Traceback" not in err


# -- the window ------------------------------------------------------------------------------------
def _fake_cv2(gui: str, window_error: str | None = None, key: int = -1):
    class CvError(Exception):
        pass

    shown = []

    def named_window(title, flags):
        if window_error is not None:
            raise CvError(f"OpenCV(4.10) window.cpp:1255: error: (-2:Unspecified error)\n{window_error}")

    return types.SimpleNamespace(
        error=CvError, WINDOW_AUTOSIZE=1, shown=shown,
        getBuildInformation=lambda: f"\nGeneral configuration for OpenCV\n  GUI:                           {gui}\n",
        namedWindow=named_window, imshow=lambda title, image: shown.append(image), waitKey=lambda ms: key,
        destroyWindow=lambda title: None)


@pytest.mark.parametrize("gui, display, window_error, reason", [
    (None, ":0", None, "OpenCV is not installed"),
    ("NONE", ":0", None, "this OpenCV is built without windows"),
    ("GTK3", None, None, "there is no display here"),
    ("GTK3", ":0", "Can't initialize GTK backend", "OpenCV cannot open one (Can't initialize GTK backend)"),
], ids=["no-opencv", "headless-opencv", "no-display", "window-fails"])
def test_show_where_no_window_can_open_says_to_serve_instead(monkeypatch, gui, display, window_error, reason):
    monkeypatch.setitem(sys.modules, "cv2", None if gui is None else _fake_cv2(gui, window_error))
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    if display is None:
        monkeypatch.delenv("DISPLAY", raising=False)
    else:
        monkeypatch.setenv("DISPLAY", display)
    with pytest.raises(AslEdgeError) as failed:
        liveview.Window()
    message = str(failed.value)
    assert "\n" not in message and message.startswith("--show needs a window, and " + reason)
    assert message.endswith("instead with --serve 8080")


def test_the_window_shows_the_annotated_frame_and_q_stops(monkeypatch):
    cv2 = _fake_cv2("GTK3", key=ord("q"))
    monkeypatch.setitem(sys.modules, "cv2", cv2)
    monkeypatch.setenv("DISPLAY", ":0")
    box = (100.0, 60.0, 220.0, 190.0)
    with liveview.Window() as window:
        assert window(_frame(), FrameResult(1, "3", 0.9, box, 15.0)) is True
    bgr = cv2.shown[0].astype(int)
    _assert_annotated(bgr[..., ::-1], box)  # shown as BGR: OpenCV's order


def test_show_on_the_installed_headless_opencv_is_one_line(tmp_path):
    # The camera extra installs opencv-python-headless: the real thing, through the whole command.
    cv2 = pytest.importorskip("cv2")
    if liveview.window_problem(cv2) is None:
        pytest.skip("this OpenCV can open windows here")
    import subprocess

    video = _video(tmp_path / "room.avi", [_room()])
    r = subprocess.run([sys.executable, "-m", "asl_edge", "predict", str(CAMERA_ARTIFACT), "--camera", str(video),
                        "--show"], capture_output=True, text=True, check=False)
    assert r.returncode == 2 and r.stdout == ""
    why = liveview.window_problem(cv2)
    assert r.stderr.strip().splitlines() == [f"asl-edge: error: --show needs a window, and {why}: "
                                             + liveview.SERVE_HINT]


# -- camera sources --------------------------------------------------------------------------------
SOURCES = cameras.camera_sources()


def _example(source, tmp_path: Path) -> str:
    if source.name == "file":
        (tmp_path / source.example).write_bytes(b"not a video")
        return str(tmp_path / source.example)
    return source.example


@pytest.mark.parametrize("source", SOURCES, ids=lambda s: s.name)
def test_each_source_is_chosen_by_its_example_and_names_its_install_when_missing(source, tmp_path, monkeypatch):
    value = _example(source, tmp_path)
    assert cameras.camera_source(value) == source
    monkeypatch.setitem(sys.modules, "cv2", None)
    monkeypatch.setitem(sys.modules, "picamera2", None)
    with pytest.raises(MissingDependencyError) as missing:
        cameras.open_camera(value)
    assert source.needs in str(missing.value) and "\n" not in str(missing.value)


@pytest.mark.parametrize("value", ["picamra", "", "-1", "clip.mp4", "²"])
def test_a_value_no_source_takes_names_every_source(value):
    with pytest.raises(ConfigError) as failed:
        cameras.camera_source(value)
    assert all(s.example in str(failed.value) for s in SOURCES)


def test_picamera_absent_through_the_command_is_one_line(monkeypatch, capsys):
    pytest.importorskip("ai_edge_litert")
    from asl_edge.cli import main

    monkeypatch.setitem(sys.modules, "picamera2", None)
    with pytest.raises(SystemExit) as failed:
        main(["predict", str(CAMERA_ARTIFACT), "--camera", "picamera", "--serve", "0", "--bind", "127.0.0.1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert failed.value.code != 0 and err == [
        f"asl-edge: error: --camera picamera needs picamera2, which is not installed here: {cameras.PICAMERA_INSTALL}"]


class FakePicamera2:
    """picamera2's Picamera2 as far as asl-edge uses it; frames B, G, R as its "RGB888" gives them."""

    opened: list = []

    def __init__(self, camera_num=0):
        if camera_num > 1:
            raise IndexError("list index out of range")
        self.camera_num, self.calls = camera_num, []
        FakePicamera2.opened.append(self)

    def create_video_configuration(self, main):
        return {"main": main}

    def configure(self, config):
        self.calls.append(("configure", config))

    def start(self):
        self.calls.append("start")

    def capture_array(self, name="main"):
        w, h = self.calls[0][1]["main"]["size"]
        frame = np.zeros((h, w, 3), np.uint8)
        frame[..., 0] = 200  # blue, first in memory
        return frame

    def stop(self):
        self.calls.append("stop")

    def close(self):
        self.calls.append("close")


def test_picamera_frames_reach_the_loop_as_opencv_frames(monkeypatch):
    from asl_edge.runtime.stream import frame_to_rgb

    monkeypatch.setitem(sys.modules, "picamera2", types.SimpleNamespace(Picamera2=FakePicamera2))
    FakePicamera2.opened.clear()
    capture = cameras.open_camera("picamera:1")
    ok, frame = capture.read()
    capture.release()
    camera = FakePicamera2.opened[0]
    assert camera.camera_num == 1 and camera.calls == [
        ("configure", {"main": {"size": cameras.PICAMERA_SIZE, "format": "RGB888"}}), "start", "stop", "close"]
    assert ok and frame.shape == (480, 640, 3)
    assert np.asarray(frame_to_rgb(frame))[0, 0].tolist() == [0, 0, 200]  # blue stays blue
    with pytest.raises(AslEdgeError, match=r"cannot open the Pi camera 2 \(list index out of range\)"):
        cameras.open_camera("picamera:2")


@pytest.mark.parametrize("missing, says", [("libcamera", "not installed here"), ("numpy", "needs 'numpy'")])
def test_picamera_installed_without_what_it_needs_says_what(monkeypatch, missing, says):
    def broken(*args, **kwargs):
        raise ModuleNotFoundError(f"No module named '{missing}'", name=missing)

    import builtins

    real = builtins.__import__
    monkeypatch.setattr(builtins, "__import__",
                        lambda name, *a, **kw: broken() if name == "picamera2" else real(name, *a, **kw))
    with pytest.raises(MissingDependencyError) as failed:
        cameras.open_camera("picamera")
    assert says in str(failed.value) and "--system-site-packages" in str(failed.value)
