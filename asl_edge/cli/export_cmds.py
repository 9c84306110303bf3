"""asl-edge commands for the export stage: export, verify."""

from __future__ import annotations

import click

from asl_edge.cli import cli
from asl_edge.cli.common import (
    MICRO_MODULES,
    TRAIN_MODULES,
    common_options,
    echo_json,
    examples,
    json_option,
    need_extra,
)
from asl_edge.cli.common import table as text_table
from asl_edge.runtime import fmt
from asl_edge.runtime.errors import ExportError, IntegrityError


def _table(manifest: dict) -> str:
    head = ["artifact", "precision", "KB", "gzip KB", "accuracy", "agree", "status"]
    rows = [[a["path"], a["precision"], fmt.decimal(a['size_bytes'] / 1024, 1),
             fmt.decimal(a['size_gzip_bytes'] / 1024, 1), fmt.percent(a['accuracy']), fmt.percent(a['agreement']),
             a["status"]] for a in manifest["artifacts"]]
    rows += [[a["path"], a["precision"], "-", "-", fmt.percent(a.get("accuracy")), fmt.percent(a.get("agreement")),
              a["status"]] for a in manifest["failed"]]
    lines = [text_table(head, rows, right={2, 3, 4, 5}),
             f"accuracy and agreement on {manifest['evaluation']['data']}; agreement: top-1 agreement with the "
             f"trained model", f"trained model accuracy {fmt.percent(manifest['source']['accuracy'])}"]
    if manifest["compression"]:
        lines.append(f"compressed float model accuracy {fmt.percent(manifest['float_accuracy'])}")
        lines.append("compression: " + ", ".join(f"{k}={v}" for k, v in manifest["compression"].items()))
    for a in manifest["artifacts"] + manifest["failed"]:
        if a.get("precision") == "int8_mixed":
            full, mixed = a["full_int8"], a["mixed"]
            lines.append(f"{a['path']}: {fmt.plural(len(a['float_layers']), 'layer')} in float "
                         f"({', '.join(a['float_layers'])}); {fmt.kilobytes(mixed['size_bytes'])} vs "
                         f"{fmt.kilobytes(full['size_bytes'])} full int8, {mixed['latency_ms_1thread']:.2f} vs "
                         f"{full['latency_ms_1thread']:.2f} ms (1 thread)")
    lines += _below_the_pi_lines(manifest)
    return "\n".join(lines)


def _below_the_pi_lines(manifest: dict) -> list[str]:
    """One line per TFLite Micro bundle and per Vela compile (figures measured by TFLM, or Vela's estimate)."""
    lines = []
    for m in manifest.get("micro") or []:
        v, arena = m["verification"], m["arena"]
        lines.append(f"TFLite Micro: {m['source']}/.h: flash {m['flash_bytes'] / 1024:.1f} KB, arena "
                     f"{arena['minimum_bytes']:,} bytes measured (build with {arena['recommended_bytes']:,}), "
                     f"ops {', '.join(m['operators'])}; TFLM vs LiteRT on {v['images']} held-out images: "
                     f"max {v['max_lsb_diff']} LSB, top-1 agreement {fmt.percent(v['top1_agreement'])}")
    for n in manifest.get("npu") or []:
        f = n["figures"]
        lines.append(f"{n['accelerator']} (Vela {n['vela_version']} ESTIMATE, {f.get('system_config', '?')}): "
                     f"{f['inferences_per_second']:,.0f} inferences/s, {f['npu_operators']} of "
                     f"{f['npu_operators'] + f['cpu_operators']} operators on the NPU, SRAM "
                     f"{f.get('sram_memory_bytes', 0) / 1024:.1f} KiB, flash "
                     f"{f.get('off_chip_flash_memory_bytes', 0) / 1024:.1f} KiB -> {n['path']}")
    return lines


def _layer_table(out: str, top: int = 10) -> str:
    from asl_edge.bench.results import read_json
    from asl_edge.export.layers import REPORT_JSON, format_table

    head, rows = format_table(read_json(f"{out}/{REPORT_JSON}"), top)
    title = f"int8 error per Keras layer, worst first ({out}/{REPORT_JSON}):"
    return title + "\n" + text_table(head, rows, right={3, 4, 5, 6})


@cli.command(epilog=examples("asl-edge export runs/train/edge_cnn-fast --int8",
                             "asl-edge export runs/train/edge_cnn-fast --int8 --fp16 --out runs/export/ref",
                             "asl-edge export runs/train/edge_cnn-fast --int8 --int4 --micro --npu ethos-u55-128",
                             "asl-edge export runs/train/mobilenetv2-fast --int8 --layer-report --max-drop 0.5",
                             "asl-edge export runs/train/edge_cnn-fast --prune 0.5 --cluster 4 --qat --formats tflite",
                             "asl-edge export runs/train/edge_cnn-camera --int8 --localiser max_candidates=6",
                             "asl-edge export runs/train/edge_cnn-camera --int8 --views centre,left,right,up,down"))
@click.argument("model_dir", type=click.Path())
@click.option("--int8", is_flag=True, help="Add full-integer int8 TFLite and static int8 ONNX artifacts.")
@click.option("--int4", is_flag=True, help="Add the int4-weight TFLite artifact: 4-bit convolution weights except "
                                           "the first three, re-rounded from the int8 artifact's, int8 "
                                           "activations (needs the micro extra).")
@click.option("--micro", is_flag=True, help="Write a TFLite Micro bundle (C array, op list, labels, input recipe, "
                                            "measured arena) beside each full-integer TFLite (implies --int8).")
@click.option("--npu", multiple=True, metavar="CONFIG",
              help="Compile the int8 TFLite with Vela for this Ethos-U configuration, e.g. ethos-u55-128 "
                   "(repeatable; implies --int8), and record Vela's performance estimate.")
@click.option("--fp16", is_flag=True, help="Add the fp16 TFLite artifact.")
@click.option("--dynamic", is_flag=True, help="Add the dynamic-range TFLite artifact.")
@click.option("--prune", type=float, default=0.0,
              help="Target sparsity of magnitude pruning, e.g. 0.5.")
@click.option("--structured", is_flag=True, help="2:4 structured sparsity instead of --prune's target.")
@click.option("--qat", is_flag=True, help="Quantisation-aware training before int8 (implies --int8).")
@click.option("--cluster", type=int, default=0, help="Weight clustering with N clusters per kernel.")
@click.option("--formats", default="tflite,onnx", show_default=True, help="Format families to write.")
@click.option("--calib-samples", type=int, default=200, show_default=True,
              help="Training images for int8 calibration.")
@click.option("--calib-augmented", type=float, default=0.5, show_default=True,
              help="Share of the calibration images shown through the run's training augmentation.")
@click.option("--epochs", type=int, default=3, show_default=True,
              help="Fine-tuning epochs per compression step.")
@click.option("--max-drop", type=float, default=1.0, show_default=True,
              help="Fail an int8 artifact that loses more accuracy than this many points; then write an "
                   "int8_mixed one with the fewest layers in float that stays within it.")
@click.option("--layer-report", is_flag=True,
              help="Write layer_report.csv/.json: each Keras layer's int8 error, MACs and size, worst first "
                   "(implies --int8).")
@click.option("--data", default=None, help="Other data for fine-tuning, calibration and evaluation.")
@click.option("--out", default=None, type=click.Path(), help="Output folder [default: runs/export/<run name>].")
@click.option("--name", default=None, help="Name the artifacts <name>_int8.tflite, ... [default: the name training "
                                           "recorded, e.g. asl-digits-fast; else the run folder's].")
@click.option("--localiser", multiple=True, metavar="FIELD=VALUE",
              help="Set a hand-search field over the one training recorded (VALUE in JSON; repeatable), e.g. "
                   "max_candidates=6: where the search looks and when it stops, never how the hand is cropped.")
@click.option("--views", default="", metavar="NAMES",
              help="Read the hand's crop in these views and average (comma-separated, e.g. "
                   "centre,left,right,up,down: the crop moved 3 of 64 pixels each way); recorded in the artifacts.")
@click.option("--force", is_flag=True, help="Replace an export that asl-edge wrote in --out.")
@json_option
@common_options
def export(model_dir, int8, int4, micro, npu, fp16, dynamic, prune, structured, qat, cluster, formats, calib_samples,
           calib_augmented, epochs, max_drop, layer_report, data, out, name, localiser, views, force, as_json):
    """Export a trained run to TFLite and ONNX, each artifact verified, with a manifest.

    MODEL_DIR is a run folder written by `asl-edge train`.
    """
    from asl_edge.cli.checks import check_number, parse_settings
    from asl_edge.runtime.views import parse_names

    check_number("--prune", prune, minimum=0, below=1)
    check_number("--cluster", cluster, minimum=0)
    check_number("--calib-samples", calib_samples, minimum=1)
    check_number("--calib-augmented", calib_augmented, minimum=0, maximum=1)
    check_number("--epochs", epochs, minimum=1)
    check_number("--max-drop", max_drop, minimum=0, maximum=100)
    need_extra("train", *TRAIN_MODULES)
    need_extra("micro", *(m for option, on in (("int4", int4), ("micro", micro), ("npu", npu)) if on
                          for m in MICRO_MODULES[option]))
    from asl_edge.export import ExportConfig, export_run

    config = ExportConfig(int8=int8, int4=int4, micro=micro, npu=tuple(npu), fp16=fp16, dynamic=dynamic, prune=prune,
                          structured=structured, qat=qat,
                          cluster=cluster, families=tuple(f.strip() for f in formats.split(",") if f.strip()),
                          calib_samples=calib_samples, calib_augmented=calib_augmented, epochs=epochs,
                          max_drop=max_drop, data=data, layer_report=layer_report, name=name,
                          localiser=parse_settings("--localiser", localiser),
                          views=parse_names(views))
    manifest = export_run(model_dir, config, out, force)
    if as_json:
        echo_json(manifest)
    else:
        click.echo(_table(manifest))
        if manifest.get("layer_report", {}).get("json"):
            click.echo(_layer_table(manifest["out"]))
        click.echo(f"wrote {fmt.plural(len(manifest['artifacts']), 'artifact')} and manifest.json to "
                   f"{manifest['out']}")
    # A full int8 artifact replaced by a verified int8_mixed one does not fail the command.
    failed = [a for a in manifest["failed"] if not a.get("replaced_by")]
    if failed:
        names = ", ".join(f"{a['path']} ({a['status'].removeprefix('failed: ')})" for a in failed)
        raise ExportError(f"{fmt.plural(len(failed), 'artifact')} failed and were not written: {names}")


@cli.command(
    epilog=examples("asl-edge verify runs/export/edge_cnn-fast", "asl-edge verify export/asl-digits-fast --json")
)
@click.argument("export_dir", type=click.Path())
@json_option
@common_options
def verify(export_dir, as_json):
    """Check every artifact of an export against the sha256 in its manifest."""
    from asl_edge.runtime.fsutil import printable
    from asl_edge.runtime.integrity import verify_export_dir

    rows = verify_export_dir(export_dir)
    if as_json:
        echo_json([{"artifact": name, "ok": ok, "reason": reason} for name, ok, reason in rows])
    else:
        click.echo(
            text_table(["artifact", "check", "reason"], [[printable(n), "OK" if ok else "BAD", r] for n, ok, r in rows])
        )
    bad = [printable(name) for name, ok, _ in rows if not ok]
    if bad:
        raise IntegrityError(f"{len(bad)} of {len(rows)} artifacts failed verification: {', '.join(bad)}")
    if not as_json:
        click.echo(f"all {len(rows)} artifacts match {printable(export_dir)}/manifest.json")


@cli.command(epilog=examples(
    "asl-edge fuse export/asl-digits-landmarks/asl-digits-landmarks_int8.tflite "
    "export/asl-digits-camera/asl-digits-camera_int8.tflite --weight 0.5",
    "asl-edge fuse LM_int8.tflite CAM_int8.tflite --combination mean --weight 0.4 --name my-fusion --out runs/fusion"))
@click.argument("landmarks", type=click.Path())
@click.argument("crop", type=click.Path())
@click.option("--weight", type=float, required=True,
              help="The landmark model's share, 0 to 1 (the crop model's is 1 - weight); choose it on validation "
                   "signers (benchmarks/landmarks_vs_crops.py fusion).")
@click.option("--combination", default="log", show_default=True,
              help="How the probabilities combine: log (weighted geometric mean) or mean (weighted mean).")
@click.option("--data", default=None, help="Other data to check the fused artifact on [default: the held-out split].")
@click.option("--out", default=None, type=click.Path(), help="Output folder [default: runs/export/<name>].")
@click.option("--name", default=None, help="Name the artifact <name>_int8.tflite [default: the crop model's, "
                                           "with -fusion].")
@click.option("--localiser", multiple=True, metavar="FIELD=VALUE",
              help="Set a hand-search field over the crop artifact's (VALUE in JSON; repeatable), e.g. reread=true, "
                   "as `asl-edge export --localiser`.")
@click.option("--force", is_flag=True, help="Replace a fusion that asl-edge wrote in --out.")
@json_option
@common_options
def fuse(landmarks, crop, weight, combination, data, out, name, localiser, force, as_json):
    """Fuse a landmark model and a crop model into one int8 TFLite artifact.

    LANDMARKS and CROP are .tflite artifacts of the landmarks and camera recipes, held out on the
    same signers. The fused artifact runs one hand search, both classifiers unchanged, and combines
    their probabilities inside its graph; it is checked against the two on the held-out images.
    No TensorFlow needed.
    """
    from pathlib import Path

    from asl_edge.cli.checks import check_number, parse_settings
    from asl_edge.export.fusion import FuseConfig, fuse_exports
    from asl_edge.runtime.fusion import COMBINATIONS

    check_number("--weight", weight, minimum=0, maximum=1)
    if combination not in COMBINATIONS:
        raise click.BadParameter(f"choose one of: {', '.join(COMBINATIONS)}", param_hint="--combination")
    config = FuseConfig(Path(landmarks), Path(crop), weight, combination, name, data,
                        localiser=parse_settings("--localiser", localiser))
    manifest = fuse_exports(config, out, force)
    if as_json:
        echo_json(manifest)
        return
    entry, ev, acc = manifest["artifacts"][0], manifest["evaluation"], manifest["source"]["fused_from"]
    click.echo(f"{entry['path']}: {fmt.kilobytes(entry['size_bytes'])}, {combination} of the two, landmark weight "
               f"{weight:g}; on {ev['data']} (no hand in {ev['no_hand']}): fused {fmt.percent(entry['accuracy'])}, "
               f"landmarks {fmt.percent(acc['landmarks']['accuracy'])}, crop {fmt.percent(acc['crop']['accuracy'])}; "
               f"outputs within {entry['max_abs_diff']:.1g} of the two models' fused in NumPy")
    click.echo(f"wrote {entry['path']} and manifest.json to {manifest['out']}")
