"""asl-edge commands for the device: predict."""

from __future__ import annotations

import json
import sys

import click

from asl_edge.cli import cli
from asl_edge.runtime.errors import DataError
from asl_edge.runtime.fsutil import printable


@cli.command()
@click.argument("artifact", type=click.Path())
@click.argument("images", nargs=-1, type=click.Path())
@click.option("--top-k", "k", default=3, show_default=True, type=click.IntRange(min=1),
              help="Labels shown per image.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per image (JSON Lines).")
@click.option("--threads", type=int, default=None, help="CPU threads for the runtime.")
@click.option("--camera", type=int, default=None, help="Classify frames from this camera index instead.")
@click.option("--max-frames", type=int, default=None, help="Stop the camera loop after N frames.")
@click.option("--show/--no-show", default=False, help="Show camera frames with the label (needs a display).")
@click.option("--no-verify", is_flag=True, help="Skip the sha256 check against the export manifest.")
def predict(artifact, images, k, as_json, threads, camera, max_frames, show, no_verify):
    """Top-k labels for images or folders of images, or a live camera loop.

    ARTIFACT is a .tflite or .onnx file from `asl-edge export` (labels and preprocessing are read
    from inside it), or a run folder. Exit status 1 if any image could not be read.
    """
    from asl_edge.runtime.predict import camera_loop, load_predictor, open_camera, predict_files

    if camera is None and not images:
        raise click.UsageError("give images or folders, or --camera INDEX")
    predictor = load_predictor(artifact, threads=threads, verify=not no_verify)
    if camera is not None:
        def report(i, label, prob, fps):
            click.echo(json.dumps({"frame": i, "label": label, "probability": round(prob, 4), "fps": round(fps, 1)})
                       if as_json else f"frame {i}: {label} ({prob:.2f})  {fps:.1f} fps")

        stats = camera_loop(predictor, open_camera(camera), max_frames, show, report)
        click.echo(f"{stats['frames']} frames, {stats['fps']:.1f} fps", err=True)
        return
    failures = total = 0
    for p in predict_files(predictor, images, k):
        total += 1
        if p.error:
            failures += 1
            click.echo(f"asl-edge: error: {printable(p.error)}", err=True)
        elif as_json:
            top = [{"label": l, "probability": round(v, 4)} for l, v in p.top]
            click.echo(json.dumps({"path": p.path, "top": top}))  # JSON escapes control characters itself
        else:
            click.echo(f"{printable(p.path)}: " + ", ".join(f"{printable(l)} ({v:.2f})" for l, v in p.top))
    if total == 0:
        raise DataError("no images found in " + ", ".join(images))
    if failures:
        click.echo(f"asl-edge: {failures} of {total} images could not be read", err=True)
        sys.exit(1)
