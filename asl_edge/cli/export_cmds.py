"""asl-edge commands for the export stage: export, verify."""

from __future__ import annotations

import click

from asl_edge.cli import cli
from asl_edge.runtime.errors import ExportError, IntegrityError


def _table(manifest: dict) -> str:
    w = max([34, *(len(a["path"]) for a in manifest["artifacts"] + manifest["failed"])])
    lines = [f"{'artifact':{w}} {'precision':9} {'KB':>8} {'gzip KB':>8} {'accuracy':>8} {'agree':>6}  status"]
    for a in manifest["artifacts"]:
        lines.append(f"{a['path']:{w}} {a['precision']:9} {a['size_bytes'] / 1024:8.1f} {a['size_gzip_bytes'] / 1024:8.1f} "
                     f"{a['accuracy']:8.4f} {a['agreement']:6.3f}  {a['status']}")
    for a in manifest["failed"]:
        lines.append(f"{a['path']:{w}} {a['precision']:9} {'-':>8} {'-':>8} "
                     f"{a.get('accuracy', float('nan')):8.4f} {a.get('agreement', float('nan')):6.3f}  {a['status']}")
    data = manifest["evaluation"]["data"]
    lines.append(f"accuracy and agreement on {data}; agreement: top-1 agreement with the trained model")
    lines.append(f"trained model accuracy {manifest['source']['accuracy']:.4f}")
    if manifest["compression"]:
        lines.append(f"compressed float model accuracy {manifest['float_accuracy']:.4f}")
        lines.append("compression: " + ", ".join(f"{k}={v}" for k, v in manifest["compression"].items()))
    return "\n".join(lines)


@cli.command()
@click.argument("model_dir", type=click.Path())
@click.option("--int8", is_flag=True, help="Add full-integer int8 TFLite and static int8 ONNX artifacts.")
@click.option("--fp16", is_flag=True, help="Add the fp16 TFLite artifact.")
@click.option("--dynamic", is_flag=True, help="Add the dynamic-range TFLite artifact.")
@click.option("--prune", type=float, default=0.0, help="Target sparsity of magnitude pruning, e.g. 0.5.")
@click.option("--structured", is_flag=True, help="2:4 structured sparsity instead of --prune's target.")
@click.option("--qat", is_flag=True, help="Quantisation-aware training before int8 (implies --int8).")
@click.option("--cluster", type=int, default=0, help="Weight clustering with N clusters per kernel.")
@click.option("--formats", default="tflite,onnx", show_default=True, help="Format families to write.")
@click.option("--calib-samples", type=int, default=200, show_default=True, help="Training images for int8 calibration.")
@click.option("--epochs", type=int, default=3, show_default=True, help="Fine-tuning epochs per compression step.")
@click.option("--max-drop", type=float, default=1.0, show_default=True,
              help="Fail an int8 artifact that loses more accuracy than this many points.")
@click.option("--data", default=None, help="Other data for fine-tuning, calibration and evaluation.")
@click.option("--out", default=None, type=click.Path(), help="Output folder [default: runs/export/<run name>].")
@click.option("--force", is_flag=True, help="Replace an existing export in --out.")
def export(model_dir, int8, fp16, dynamic, prune, structured, qat, cluster, formats, calib_samples, epochs,
           max_drop, data, out, force):
    """Export a trained run to TFLite and ONNX, each artifact verified, with a manifest.

    MODEL_DIR is a run folder written by `asl-edge train`.
    """
    from asl_edge.cli.checks import check_number
    from asl_edge.export import ExportConfig, export_run

    check_number("--prune", prune, minimum=0, below=1)
    check_number("--cluster", cluster, minimum=0)
    check_number("--calib-samples", calib_samples, minimum=1)
    check_number("--epochs", epochs, minimum=1)
    check_number("--max-drop", max_drop, minimum=0, maximum=100)

    config = ExportConfig(int8=int8, fp16=fp16, dynamic=dynamic, prune=prune, structured=structured, qat=qat,
                          cluster=cluster, families=tuple(f.strip() for f in formats.split(",") if f.strip()),
                          calib_samples=calib_samples, epochs=epochs, max_drop=max_drop, data=data)
    manifest = export_run(model_dir, config, out, force)
    click.echo(_table(manifest))
    click.echo(f"wrote {len(manifest['artifacts'])} artifacts and manifest.json to {manifest['out']}")
    if manifest["failed"]:
        names = ", ".join(f"{a['path']} ({a['status'].removeprefix('failed: ')})" for a in manifest["failed"])
        raise ExportError(f"{len(manifest['failed'])} artifact(s) failed and were not written: {names}")


@cli.command()
@click.argument("export_dir", type=click.Path())
def verify(export_dir):
    """Check every artifact of an export against the sha256 in its manifest."""
    from asl_edge.runtime.integrity import verify_export_dir

    rows = verify_export_dir(export_dir)
    for name, ok, reason in rows:
        click.echo(f"{'OK ' if ok else 'BAD'} {name}  {reason}")
    bad = [name for name, ok, _ in rows if not ok]
    if bad:
        raise IntegrityError(f"{len(bad)} of {len(rows)} artifacts failed verification: {', '.join(bad)}")
    click.echo(f"all {len(rows)} artifacts match {export_dir}/manifest.json")
