"""``predict --camera SRC --serve PORT``: the annotated live video as MJPEG over HTTP, for a headless
device (a Pi without a screen) watched from a browser on the same network.

The standard library's threading HTTP server runs in a background thread. ``/`` is a page with the
video, ``/stream.mjpg`` the video itself (``multipart/x-mixed-replace``: one JPEG after another,
which every browser shows in an ``<img>``), ``/frame.jpg`` the latest frame alone.

The live loop never waits on a viewer: it only hands its newest frame to a :class:`LatestFrame`
(a reference swapped under a lock). Viewers' threads draw and JPEG-encode it (Pillow) when they
ask for it, each frame at most once however many viewers there are; a slow viewer skips frames.
"""

from __future__ import annotations

import io
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from asl_edge.runtime.errors import AslEdgeError

log = logging.getLogger(__name__)

BOUNDARY = "asl-edge-frame"
JPEG_QUALITY = 80
# A viewer that stops reading without closing its connection: its thread gives up after this long.
VIEWER_TIMEOUT_S = 10.0
INDEX_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>asl-edge live</title>
<style>body{margin:0;background:#111;color:#ddd;font:14px sans-serif;text-align:center}
img{max-width:100%;height:auto;margin-top:8px}</style></head>
<body><img src="/stream.mjpg" alt="asl-edge live video"><p>asl-edge: hand box, label with confidence, frames per
second. Stop with Ctrl-C where asl-edge runs.</p></body></html>
"""


def encode_jpeg(image, quality: int = JPEG_QUALITY) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


class LatestFrame:
    """The newest frame of a live loop, for any number of viewers (see the module docstring).

    Args:
        render: turns a published ``(frame, result)`` into a picture (default
            :func:`asl_edge.runtime.liveview.annotate`).
        quality: JPEG quality.
    """

    def __init__(self, render=None, quality: int = JPEG_QUALITY):
        from asl_edge.runtime.liveview import annotate

        self.render, self.quality = render or annotate, quality
        self._changed = threading.Condition()
        self._encoding = threading.Lock()
        self._newest: tuple | None = None
        self._number = 0
        self._jpeg: tuple[int, bytes] = (0, b"")
        self.closed = False

    def publish(self, frame, result) -> bool:
        """Hands over the loop's newest frame (an RGB PIL image it no longer changes) and its result;
        returns ``False`` (a view that never stops the loop)."""
        with self._changed:
            self._newest, self._number = (frame, result), self._number + 1
            self._changed.notify_all()
        return False

    __call__ = publish

    def close(self) -> None:
        """Ends every viewer's wait: the loop is over."""
        with self._changed:
            self.closed = True
            self._changed.notify_all()

    def wait(self, after: int, timeout: float) -> tuple[int, bytes] | None:
        """The first frame newer than number ``after``, as ``(number, JPEG bytes)``; ``None`` when
        none came within ``timeout`` seconds or the stream is closed."""
        with self._changed:
            if not self._changed.wait_for(lambda: self._number > after or self.closed, timeout) or self.closed:
                return None
            number, newest = self._number, self._newest
        with self._encoding:  # the first viewer to ask encodes; the others take its bytes
            if self._jpeg[0] < number:
                self._jpeg = (number, encode_jpeg(self.render(*newest), self.quality))
            return self._jpeg


class _Viewer(BaseHTTPRequestHandler):
    """One browser's request: the page, the video, or one frame."""

    server: _Server
    timeout = VIEWER_TIMEOUT_S

    def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
        path = urlsplit(self.path).path
        if path in ("/", "/index.html"):
            self._reply(200, "text/html; charset=utf-8", INDEX_HTML.encode())
        elif path == "/stream.mjpg":
            self._stream()
        elif path == "/frame.jpg":
            got = self.server.frames.wait(0, VIEWER_TIMEOUT_S)
            if got is None:
                self._reply(503, "text/plain; charset=utf-8", b"no frame yet\n")
            else:
                self._reply(200, "image/jpeg", got[1])
        else:
            self._reply(404, "text/plain; charset=utf-8", b"not found: open / for the video\n")

    def _reply(self, status: int, kind: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        number = 0
        while not self.server.frames.closed:
            got = self.server.frames.wait(number, 1.0)
            if got is None:
                continue
            number, jpeg = got
            try:
                self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                                 .encode() + jpeg + b"\r\n")
                self.wfile.flush()
            except OSError:  # the viewer went away (closed the tab, or stopped reading)
                return

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (http.server's signature)
        log.debug("viewer %s: " + format, self.address_string(), *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a viewer's thread never keeps the process alive
    frames: LatestFrame


class _Server6(_Server):
    address_family = socket.AF_INET6


class MjpegServer:
    """Serves a live loop's annotated frames to browsers from a background thread.

    Use as a context manager, and as one of :func:`~asl_edge.runtime.stream.camera_loop`'s
    ``views`` (it is called with each frame and its result)::

        with MjpegServer(8080) as server:
            print(server.urls())
            camera_loop(predictor, open_camera("0"), views=[server])

    Args:
        port: the TCP port (0: any free one; :attr:`port` says which).
        host: the address to listen on (``0.0.0.0``: every IPv4 interface; ``127.0.0.1``: this
            machine only; ``::`` every IPv6 one).

    Raises:
        AslEdgeError: the port is taken, not allowed, or the address is not this machine's.
    """

    def __init__(self, port: int, host: str = "0.0.0.0", render=None):
        self.frames = LatestFrame(render)
        self.host = host
        kind = _Server6 if ":" in host else _Server
        try:
            self._httpd = kind((host, port), _Viewer)
        except OSError as exc:
            raise AslEdgeError(f"cannot serve on {host} port {port}: {exc.strerror or exc} "
                               "(choose another --serve PORT, or --bind ADDRESS)") from exc
        self._httpd.frames = self.frames
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="asl-edge-mjpeg", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def __call__(self, frame, result) -> bool:
        return self.frames.publish(frame, result)

    def urls(self) -> list[str]:
        """Addresses a browser can open: this machine's address on the local network and its
        ``.local`` name (mDNS, which Raspberry Pi OS answers) for a server on every interface."""
        return [f"http://{'[' + h + ']' if ':' in h else h}:{self.port}/" for h in serving_hosts(self.host)]

    def close(self) -> None:
        """Ends the viewers' streams, stops the server and frees the port."""
        self.frames.close()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> MjpegServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def serving_hosts(host: str) -> list[str]:
    """The names to give a browser for a server bound to ``host``."""
    if host not in ("", "0.0.0.0", "::"):
        return [host]
    hosts = []
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            # A UDP "connect" sends nothing: it only picks the interface the default route leaves by,
            # whose address is the one other machines on the network reach. 192.0.2.1 is TEST-NET-1.
            probe.connect(("192.0.2.1", 9))
            hosts.append(probe.getsockname()[0])
    except OSError:  # no network route at all
        pass
    name = socket.gethostname()
    if name and "." not in name and name != "localhost":
        hosts.append(f"{name}.local")
    return [h for h in hosts if not h.startswith("127.")] or ["127.0.0.1"]
