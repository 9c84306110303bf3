"""asl-edge commands for the device: predict, info."""

from __future__ import annotations

import json
import sys

import click

from asl_edge.cli import cli
from asl_edge.cli.common import chosen_model, common_options, examples
from asl_edge.runtime.cameras import camera_sources
from asl_edge.runtime.errors import DataError
from asl_edge.runtime.fsutil import printable


@cli.command(epilog=examples("asl-edge predict model_int8.tflite photo.jpg photos/",
                             "asl-edge predict export/asl-digits-fast photo.jpg",
                             "asl-edge predict model_int8.tflite photos/ --json --top-k 1",
                             "asl-edge predict model_int8.tflite --camera 0 --serve 8080",
                             "asl-edge predict model_int8.tflite --camera picamera --serve 8080",
                             "asl-edge predict model_int8.tflite --camera 0 --show"))
@click.argument("artifact", type=click.Path())
@click.argument("images", nargs=-1, type=click.Path())
@click.option("--top-k", "k", default=3, show_default=True,
              help="Labels shown per image.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per image (JSON Lines).")
@click.option("--threads", type=int, default=None, help="CPU threads for the runtime.")
@click.option("--camera", "camera", metavar="SOURCE", default=None,
              help="Classify live frames instead, from "
                   + "; ".join(f"{s.example}: {s.reads}" for s in camera_sources()) + ".")
@click.option("--max-frames", type=int, default=None, help="Stop the camera loop after N frames.")
@click.option("--show/--no-show", default=False,
              help="Camera: show the frames with the hand's box and label in a window (needs a display and "
                   "an OpenCV with windows; on a headless device use --serve).")
@click.option("--serve", type=int, default=None, metavar="PORT",
              help="Camera: stream the frames with the hand's box, label and fps to browsers on the network "
                   "(MJPEG over HTTP) at this port (0: any free port); the address to open is printed.")
@click.option("--bind", default="0.0.0.0", show_default=True, metavar="ADDRESS",
              help="Camera: the address --serve listens on (127.0.0.1: this machine only).")
@click.option("--track/--no-track", default=True, show_default=True,
              help="Camera: follow the hand from frame to frame (MediaPipe's hand tracking) instead of "
                   "searching each frame on its own.")
@click.option("--fps", type=float, default=15.0, show_default=True,
              help="Camera: the frame rate to keep; each frame's hand search stops at 1000/FPS ms and goes on "
                   "in the next frames (0: no budget, the full search on every 4th frame without a hand).")
@click.option("--search-ms", type=float, default=None,
              help="Camera: at most this many ms of each frame for the hand search [default: measured as the loop "
                   "runs, so that a frame that searches costs at most about 1.8 frames that follow a hand; "
                   "1000/FPS: as much as the frame allows].")
@click.option("--vote", type=int, default=None,
              help="Camera: answer the label most of the last N frames gave [default: the model's, else 1].")
@click.option("--all-hands", is_flag=True,
              help="Images: read every hand found (box and labels), not only the signer's (camera models).")
@click.option("--no-verify", is_flag=True, help="Skip the sha256 check against the export manifest.")
@common_options
def predict(artifact, images, k, as_json, threads, camera, max_frames, show, serve, bind, track, fps, search_ms, vote,
            all_hands, no_verify):
    """Top-k labels for images or folders of images, or a live camera loop.

    ARTIFACT is a .tflite/.onnx file from `asl-edge export` (labels and preprocessing are read from
    inside it), an export folder (its recommended artifact) or a run folder. A model with a hand
    localiser (the camera recipe) finds the hand first; in a picture where it finds none, a crop
    model reads the whole picture and says so, a landmark model says "no hand found". Exit status 1 if
    any image could not be read. The live loop's frames, with the hand's box and label, can be
    watched from a browser (--serve PORT, for a device without a screen) or in a window (--show).
    """
    from asl_edge.cli.checks import check_number
    from asl_edge.runtime.predict import load_predictor, predict_files

    check_number("--top-k", k, minimum=1)
    check_number("--threads", threads, minimum=1)
    check_number("--max-frames", max_frames, minimum=1)
    check_number("--fps", fps, minimum=0, maximum=240)
    check_number("--vote", vote, minimum=1)
    check_number("--search-ms", search_ms, minimum=1)
    check_number("--serve", serve, minimum=0, maximum=65535)

    if camera is None and (show or serve is not None):
        raise click.UsageError("--show and --serve show live frames: give --camera SOURCE")
    if camera is None and not images:
        raise click.UsageError("give images or folders, or --camera SOURCE")
    artifact = chosen_model(artifact)
    if camera is not None:
        _predict_camera(lambda: load_predictor(artifact, threads=threads, verify=not no_verify), camera,
                        max_frames=max_frames, show=show, serve=serve, bind=bind, track=track, fps=fps,
                        search_ms=search_ms, vote=vote, as_json=as_json)
        return
    predictor = load_predictor(artifact, threads=threads, verify=not no_verify)
    if all_hands:
        _predict_all_hands(predictor, images, k, as_json)
        return
    failures = total = 0
    # A count of the images done on stderr, on a terminal only; each answer still prints as it comes.
    from tqdm import tqdm

    with tqdm(desc="predict", unit="image", file=sys.stderr, disable=None, leave=False) as bar:
        for p in predict_files(predictor, images, k):
            total += 1
            bar.update(1)
            with bar.external_write_mode():
                failures += bool(p.error)
                _echo_prediction(p, as_json)
    if total == 0:
        raise DataError("no images found in " + ", ".join(images))
    if failures:
        click.echo(f"asl-edge: {failures} of {total} images could not be read", err=True)
        sys.exit(1)


def _echo_prediction(p, as_json: bool) -> None:
    """One file's answer (:class:`~asl_edge.runtime.predict.Prediction`): its error on stderr, else its
    labels, or "no hand found", saying when the whole picture was read for want of a hand."""
    if p.error:
        click.echo(f"asl-edge: error: {printable(p.error)}", err=True)
    elif as_json:
        top = [{"label": label, "probability": round(v, 4)} for label, v in p.top or ()]
        click.echo(json.dumps({"path": p.path, "hand": not p.no_hand, "top": top}))
    elif p.top is None:
        click.echo(f"{printable(p.path)}: no hand found")
    else:
        whole = "  (no hand found: the whole picture read)" if p.no_hand else ""
        click.echo(f"{printable(p.path)}: " + ", ".join(f"{printable(label)} ({v:.2f})" for label, v in p.top) + whole)


def _predict_camera(load, camera, *, max_frames, show, serve, bind, track, fps, search_ms, vote, as_json) -> None:
    """``predict --camera``: the live loop, shown in a window (``--show``) or streamed to browsers
    (``--serve``); the window, the server and the camera are closed however the loop ends (Ctrl-C too)."""
    import contextlib

    from asl_edge.runtime import cameras
    from asl_edge.runtime.stream import FrameBudget, camera_loop, model_vote

    cameras.camera_source(camera)  # a misspelt source fails before the model loads
    budget = FrameBudget(fps, search_ms=search_ms) if fps else None
    with contextlib.ExitStack() as stack:
        views = []
        if show:
            from asl_edge.runtime.liveview import Window

            views.append(stack.enter_context(Window()))
        if serve is not None:
            from asl_edge.runtime.mjpeg import MjpegServer

            server = stack.enter_context(MjpegServer(serve, bind))
            views.append(server)
        predictor = load()
        capture = cameras.open_camera(camera)
        if serve is not None:
            click.echo(f"asl-edge: open {' or '.join(server.urls())} in a browser on this network "
                       "(Ctrl-C stops)", err=True)
        stats = camera_loop(predictor, capture, max_frames, on_result=_frame_report(as_json), track=track,
                            budget=budget, vote=vote or model_vote(predictor), views=views)
    searched = stats.get("localiser")
    words = {"tracked": "hand followed in {} frames", "first_pass": "first pass alone in {}",
             "full_search": "full search in {}", "search_steps": "{} search steps",
             "deferred": "search carried to the next frame {} times (budget {:.0f} ms)"}
    how = (" (" + ", ".join(words[key].format(n, budget.ms if budget else 0) for key, n in searched.items())
           + ")" if searched else "")
    click.echo(f"{stats['frames']} frames, {stats['fps']:.1f} fps, no hand in {stats['no_hand']}{how}", err=True)


def _frame_report(as_json: bool):
    """The live loop's line per frame on stdout: JSON Lines with ``--json``, else a sentence."""
    def report(r):
        if as_json:
            click.echo(json.dumps({"frame": r.index, "hand": r.label is not None, "label": r.label,
                                   "probability": round(r.probability, 4), "box": r.box, "fps": round(r.fps, 1)}))
        else:
            what = f"{r.label} ({r.probability:.2f})" if r.label is not None else "no hand"
            click.echo(f"frame {r.index}: {what}  {r.fps:.1f} fps")

    return report


def _predict_all_hands(predictor, images, k, as_json) -> None:
    """``predict --all-hands``: every hand of each image, the signer's first."""
    from asl_edge.runtime.predict import expand_images

    if not predictor.preprocessing.localises:
        raise DataError("--all-hands needs a model that finds the hand first (the camera recipe)")
    paths = list(expand_images(images))
    if not paths:
        raise DataError("no images found in " + ", ".join(images))
    failures = 0
    for path in paths:
        try:
            result = predictor.predict(str(path), k, all_hands=True)
        except DataError as exc:
            failures += 1
            click.echo(f"asl-edge: error: {printable(str(exc))}", err=True)
            continue
        if as_json:
            click.echo(json.dumps({"path": str(path), "hand": bool(result.hands), "hands": [
                {"box": list(h.box), "signer": h.signer,
                 "top": [{"label": label, "probability": round(v, 4)} for label, v in h.top]} for h in result.hands]}))
        elif not result.hands:
            click.echo(f"{printable(str(path))}: no hand found")
        else:
            for h in result.hands:
                who = "signer" if h.signer else "other"
                click.echo(f"{printable(str(path))}: {who} hand at ({', '.join(f'{v:.0f}' for v in h.box)}): "
                           + ", ".join(f"{printable(label)} ({v:.2f})" for label, v in h.top))
    if failures:
        click.echo(f"asl-edge: {failures} of {len(paths)} images could not be read", err=True)
        sys.exit(1)


@cli.command(epilog=examples("asl-edge info export/asl-digits-fast",
                             "asl-edge info export/asl-digits-camera/asl-digits-camera_int8.tflite --json"))
@click.argument("artifact", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON instead of lines.")
@common_options
def info(artifact, as_json):
    """What an artifact carries and what its export recorded: labels, input recipe, preprocessing,
    size, precision, held-out split, source run and the accuracy measured at export.

    ARTIFACT is a .tflite/.onnx file or an export folder (its recommended artifact). Nothing is
    loaded into a runtime: this works on a device without TensorFlow.
    """
    from asl_edge.runtime.info import artifact_info, format_info

    found = artifact_info(artifact)
    if as_json:
        from asl_edge.cli.common import echo_json

        echo_json(found)
    else:
        click.echo(format_info(found))
