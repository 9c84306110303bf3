"""``asl-edge report``: benchmark results from one or several machines as REPORT.md and one HTML page.

"Deploy this" first: per device (each machine measured, each Raspberry Pi estimated) and per use
case (close-up photographs; a camera in a room), one sentence naming the file to ship, its size,
accuracy, data and latency, then a table per use case (:mod:`asl_edge.report.deploy`). Per machine
(results files with the same device label are repeated runs of one machine and add a repeatability
table): a table per use case in its own units (ms per image; ms and frames/s per frame; the camera
models' classifier alone per crop), each followed by its pick, int8 against fp32, each model's MAC
count, and plots titled with the pick they show. Then the Raspberry Pi 4 / Pi 5 estimates (with
their published sources) beside any measured Pi rows, below-the-Pi devices and the side documents
(ARM64 emulation check, layer report, architectures, mutation score). The HTML page inlines its images.
"""

from __future__ import annotations

from pathlib import Path

from asl_edge.bench.pi_estimate import model_stem
from asl_edge.report.analysis import (
    USE_CASES,
    fmt,
    int8_vs_fp32,
    pareto_front,
    repeatability,
    rows_of,
    table_head,
    table_rows,
    use_case_of,
)
from asl_edge.report.deploy import Answer, deploy_box, machine_answers, ms, pi_answers, pi_section, shipped
from asl_edge.report.document import Document
from asl_edge.report.inputs import ARCHITECTURES_KIND, LAYER_REPORT_KIND, MUTATION_KIND
from asl_edge.report.plots import architecture_pareto, plots
from asl_edge.runtime.fmt import plural, ratio
from asl_edge.runtime.fsutil import atomic_write


def _machine_line(m: dict) -> str:
    runtimes = ", ".join(f"{k} {v}" for k, v in (m.get("runtimes") or {}).items() if v)
    dot = m.get("int8_dot")
    dot_text = "" if dot is None else (" (has int8 dot-product instructions)" if dot else
                                       " (no int8 dot-product instructions: no VNNI / DOTPROD)")
    return (f"CPU {m.get('cpu', '?')}{' on ' + m['board'] if m.get('board') else ''} ({m.get('arch', '?')}, "
            f"{m.get('cores', '?')} cores, ISA: {', '.join(m.get('isa') or []) or 'none detected'}{dot_text}); "
            f"GPU: {m.get('gpu') or 'none'}; {m.get('os', '?')}; Python {m.get('python', '?')}; {runtimes or '-'}.")


def _group(docs: list[dict]) -> dict[str, list[dict]]:
    """Results files by device label (the same label: repeated runs of one machine); a file without
    a label is a machine of its own, named by its position."""
    groups: dict[str, list[dict]] = {}
    for i, d in enumerate(docs):
        groups.setdefault(d["machine"].get("device") or f"machine {i + 1}", []).append(d)
    return groups


def _timing_line(doc: dict) -> str:
    cfg = doc.get("config") or {}
    sets = list(dict.fromkeys((doc.get("data") or {}).get("sets") or []))
    rounds = cfg.get("rounds", 1)
    timing = (f"{cfg.get('runs', '?')} timed single-image runs after {cfg.get('warmup', '?')} warm-up runs; "
              f"throughput: batches of {cfg.get('batch', '?')}")
    if rounds > 1:
        timing = (f"{rounds} rounds per row, interleaved across the rows, each of {timing}; the table gives each "
                  f"row's best round (its lowest p50 and highest throughput; every round is in the JSON)")
    return f"Data: {'; '.join(sets) or '-'}. Latency: {timing}."


def _use_tables(out: Document, rows: list[dict], answers: list[Answer]) -> None:
    """One table per use case, in its own units, each followed by its pick."""
    picks = {a.use.key: a for a in answers}
    for use in USE_CASES:
        mine = rows_of(rows, use)
        if not mine:
            continue
        out.h(3, f"{use.title[0].upper()}{use.title[1:]}: {use.units}")
        out.p(f"One call: {use.what}.")
        out.table(table_head(use), table_rows(mine))
        a = picks.get(use.key)
        if a:
            r = a.row
            out.p(f"**Deploy on this machine for {use.title}:** `{shipped(r)}` on {r['runtime']} with "
                  f"{plural(r.get('threads'), 'thread')}: {ms(a.latency_ms)} ms p50 per {use.unit}, "
                  f"{r['throughput_ips']:,.0f} {use.rate}, {use.accuracy} {r['accuracy']:.2%}; {a.why}.")


def _facts(out: Document, m: dict, rows: list[dict]) -> None:
    """int8 against fp32 (measured) and each model's multiply-accumulates."""
    comparisons = int8_vs_fp32(rows)
    if comparisons:
        parts = [f"{c['model']} {c['family']} on {c['runtime']} x{c['threads']}: int8 {c['int8']:.3f} ms vs fp32 "
                 f"{c['fp32']:.3f} ms ({'slower' if c['ratio'] > 1 else 'faster'}, {ratio(c['ratio'])})"
                 for c in comparisons]
        why = ("" if m.get("int8_dot") is None else
               " This CPU has int8 dot-product instructions." if m.get("int8_dot") else
               " This CPU has no int8 dot-product instructions (VNNI on x86, DOTPROD on ARM), so int8 is not "
               "assumed to be faster.")
        out.p("int8 against fp32, measured (per image or crop): " + "; ".join(parts) + "." + why)
    macs = {}
    for r in rows:
        if r.get("macs") and use_case_of(r).key != "camera":
            macs.setdefault(model_stem(r["artifact"]), r["macs"])
    if macs:
        cost = "; ".join(f"{v / 1e6:.2f} M multiply-accumulates per image ({k})" for k, v in macs.items())
        out.p(f"Model cost: {cost} (CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED of the .tflite).")


def _repeat_section(out: Document, rows: list[dict], again: list[dict]) -> None:
    rep = repeatability(rows, again)
    if rep:
        worst = max(r["difference"] for r in rep)
        out.p(f"Repeatability: the same benchmark run twice in a row; largest p50 difference {worst:.1%} "
              f"(target: within 10%).")
        out.table(["artifact", "runtime", "threads", "p50 ms (run 1)", "p50 ms (run 2)", "difference",
                   "slowest round vs best (run 1)"],
                  [[r["artifact"], r["runtime"], fmt(r["threads"], "d"), f"{r['p50']:.3f}",
                    f"{r['p50_again']:.3f}", f"{r['difference']:.1%}",
                    "-" if r["round_spread"] is None else f"+{r['round_spread']:.1%}"] for r in rep])


def _device_section(out: Document, i: int, title: str, runs: list[dict], out_dir: Path) -> list[Answer]:
    doc = runs[0]
    m, rows = doc["machine"], doc["results"]
    out.h(2, title)
    out.p(_machine_line(m))
    if doc.get("note"):  # what the machine block cannot say (how the file was made), written by hand
        out.p(f"Note: {doc['note']}")
    out.p(_timing_line(doc))
    for warning in doc.get("warnings") or []:
        out.p(f"**{warning}**")
    answers = machine_answers(title, doc)
    _use_tables(out, rows, answers)
    _facts(out, m, rows)
    if len(runs) > 1:
        _repeat_section(out, rows, runs[1]["results"])
    for key, (png, alt) in plots(rows, title, doc.get("labels"), {a.use.key: a.row for a in answers}).items():
        name = f"{i}_{key}.png"
        atomic_write(out_dir / name, png)
        out.img(name, alt, png)
    return answers


def _without_absent_gpu(doc: dict) -> dict:
    rows = [r for r in doc["results"] if not (r.get("device") == "gpu" and r["status"].startswith("not measured"))]
    return {**doc, "results": rows}


def _check_section(out: Document, check: dict) -> None:
    emu = check.get("emulation") or {}
    mach = emu.get("machine") or {}
    out.h(2, f"ARM64 emulation check: {check.get('status', '?').upper()} (QEMU user mode, not a Raspberry Pi)")
    out.p(f"The runtime-only install (`asl-edge[pi]`) ran in a {emu.get('userland', 'arm64 userland')} under "
          f"{emu.get('qemu', 'QEMU')} with QEMU_CPU={emu.get('qemu_cpu') or '?'} ({mach.get('cpu', '?')}, ISA: "
          f"{', '.join(mach.get('isa') or []) or '-'}; Python {mach.get('python', '?')}), and its outputs were "
          f"compared with this x86 machine's on {(check.get('data') or {}).get('description', 'the same images')}, "
          f"one image at a time (`make arm64-check`, {check.get('created', '')}). Bar: int8 outputs within 1 LSB, "
          "float outputs within 1e-4. " + check.get("note", "No timings are recorded under emulation."))
    rows = []
    for r in check["results"]:
        runtime = f"{r.get('runtime') or '-'} {r.get('runtime_version_arm64') or ''}".strip()
        rows.append([r["artifact"], r.get("precision", "-"), runtime,
                     fmt(r.get("max_abs_diff"), ".2e"), fmt(r.get("max_lsb_diff"), "d"),
                     fmt(r.get("top1_agreement"), ".4f"),
                     {True: "yes", False: "no", None: "-"}[r.get("xnnpack_arm64")], r["status"]])
    out.table(["artifact", "precision", "runtime (arm64)", "max abs diff", "max diff (LSB)", "top-1 agreement",
               "XNNPACK on arm64", "status"], rows)


def _layer_section(out: Document, doc: dict, top: int = 15) -> None:
    """Which Keras layers int8 hurts most, and the mixed artifacts that keep them in float."""
    out.h(2, f"int8 error per layer: {doc.get('model', '?')}")
    out.p(f"From `asl-edge export --layer-report` ({doc.get('debug_samples', '?')} calibration images through "
          "LiteRT's quantisation debugger; each op's error is its own, on its own int8 inputs). NSR: RMSE of the "
          "int8 output over the float output's standard deviation; RMSE/scale: 0.29 is rounding alone. Worst first.")
    rows = [[str(r.get("rank", i + 1)), r["layer"], r.get("kind", "-"), f"{r['nsr']:.4f}",
             f"{r.get('rmse_scale', float('nan')):.2f}", f"{100 * r['macs_share']:.1f}", f"{100 * r['size_share']:.1f}"]
            for i, r in enumerate(doc["layers"][:top])]
    out.table(["rank", "layer", "kind", "int8 NSR", "RMSE/scale", "MACs %", "size %"], rows)
    mixed = doc.get("mixed") or []
    if mixed:
        out.p("Full int8 lost more than --max-drop, so these artifacts keep the listed layers in float "
              "(validation split; the manifest has the held-out test figures):")
        out.table(["artifact", "float layers", "size KB (full int8)", "latency ms 1 thread (full int8)",
                   "val accuracy (full int8)"],
                  [[m["format"], ", ".join(m["float_layers"]) or "-",
                    f"{m['mixed']['size_bytes'] / 1024:.1f} ({m['full_int8']['size_bytes'] / 1024:.1f})",
                    f"{m['mixed']['latency_ms_1thread']:.3f} ({m['full_int8']['latency_ms_1thread']:.3f})",
                    f"{m['mixed']['validation_accuracy']:.4f} ({m['full_int8']['validation_accuracy']:.4f})"]
                   for m in mixed])


def _mutation_section(out: Document, doc: dict) -> None:
    """How much of the test suite bites: the share of deliberate one-token bugs (mutants) it catches."""
    def pct(score):
        return "-" if score is None else f"{score:.1%}"

    out.h(2, f"Test suite: mutation score {pct(doc['score'])}")
    out.p(f"{doc['killed']} of {doc['killed'] + doc['survived']} mutants killed ({doc.get('tool', 'mutmut')}; "
          f"{doc.get('definition', 'killed / (killed + survived)')}). "
          f"Command: `{doc.get('command', 'make mutation')}`.")
    out.table(["module", "mutants", "killed", "survived", "equivalent", "score"],
              [[m["module"], str(m.get("mutants", "-")), str(m["killed"]), str(m["survived"]),
                str(m.get("equivalent", 0)), pct(m["score"])] for m in doc["modules"].values()])


ARCHITECTURES_PNG = "architectures_pareto.png"


def _architecture_section(out: Document, doc: dict, out_dir: Path) -> None:
    """Every registry model trained, exported and measured the same way, and its Pareto fronts."""
    rows = sorted(doc["results"], key=lambda r: -r["int8_accuracy"])
    first = rows[0] if rows else {}
    out.h(2, "Architectures compared")
    out.p(f"Every registry model trained with the `{doc.get('recipe', '?')}` recipe's data, split and augmentation "
          f"(epochs, rate and input size per model in the script's table), exported to int8 TFLite and measured with "
          f"LiteRT on {first.get('data', 'the held-out split')}; latency is the p50 of single-image calls. "
          + (f"{doc['note'][0].upper()}{doc['note'][1:]}: their figures are not what ImageNet weights would give. "
             if doc.get("note") else "")
          + f"Command: `{doc.get('command', 'python benchmarks/compare_architectures.py')}`.")
    fronts = {r["model"] for cost in ("latency_ms_p50", "int8_size_bytes") for r in pareto_front(rows, cost)}
    table = []
    for r in rows:
        worst = r.get("worst_shift") or {}
        table.append([r["model"] + (" *" if r["model"] in fronts else ""), str(r.get("input_size", "-")),
                      f"{r['params'] / 1e3:,.0f}k", f"{r['macs'] / 1e6:,.1f}", f"{r['accuracy']:.4f}",
                      f"{r['int8_accuracy']:.4f}",
                      f"{worst.get('name', '-')} {fmt(worst.get('accuracy'), '.3f')}" if worst else "-",
                      f"{r['int8_size_bytes'] / 1024:,.1f}", f"{r['latency_ms_p50']:.3f}",
                      fmt(r.get("latency_ms_p50_2threads"), ".3f"), fmt(r.get("pi4_estimate_ms"), ".2f"),
                      f"{r['train_seconds']:.0f}"])
    out.table(["model (* on a Pareto front)", "input", "params", "MMACs", "accuracy", "int8 accuracy",
               "worst camera shift (int8)", "int8 KB", "p50 ms 1 thread", "p50 ms 2 threads",
               "Pi 4 estimate ms", "train s"], table)
    if rows:
        png = architecture_pareto(rows)
        atomic_write(out_dir / ARCHITECTURES_PNG, png)
        out.img(ARCHITECTURES_PNG, "accuracy against latency and size per architecture", png)


def render(docs: list[dict], out_dir: str | Path, checks: list[dict] | tuple = (),
           include_gpu: bool = False) -> tuple[Path, Path]:
    """Writes ``REPORT.md`` (with PNGs beside it) and a self-contained ``report.html``.

    Args:
        docs: benchmark results documents (``load_results``); one section per device label.
        out_dir: destination folder.
        checks: ARM64 emulation check documents (``load_check``).
        include_gpu: keep "not measured: no GPU" rows (they are dropped by default: a GPU row is
            shown only where a GPU was measured).

    Returns:
        The paths of ``REPORT.md`` and ``report.html``.
    """
    out_dir = Path(out_dir)
    if not include_gpu:
        docs = [_without_absent_gpu(d) for d in docs]
    out = Document()
    out.h(1, "asl-edge benchmark report")
    groups = _group(docs)
    body = Document()
    answers = [a for i, (title, runs) in enumerate(groups.items())
               for a in _device_section(body, i, title, runs, out_dir)]
    answers += pi_answers(docs)
    deploy_box(out, answers, list(groups))
    out.p("Every figure in the machine sections was measured by `asl-edge benchmark` on the machine named there; "
          "rows marked *not measured* say why. Raspberry Pi figures are ESTIMATES unless a Pi's own results are "
          "included, and the ARM64 emulation check compares predictions only.")
    out.blocks += body.blocks
    pi_section(out, docs, answers)
    from asl_edge.report.below_pi import below_pi_section

    below_pi_section(out, docs, out_dir)
    for check in checks:
        if check.get("kind") == LAYER_REPORT_KIND:
            _layer_section(out, check)
        elif check.get("kind") == ARCHITECTURES_KIND:
            _architecture_section(out, check, out_dir)
        elif check.get("kind") == MUTATION_KIND:
            _mutation_section(out, check)
        else:
            _check_section(out, check)
    md_path = atomic_write(out_dir / "REPORT.md", out.markdown())
    html_path = atomic_write(out_dir / "report.html", out.html("asl-edge benchmark report"))
    return md_path, html_path
