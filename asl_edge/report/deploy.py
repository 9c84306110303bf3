"""The report's answer: per device and use case, the artifact to ship, in one sentence and two tables.

A pick is made per use case (:data:`~asl_edge.report.analysis.USE_CASES`: close-up photographs, a
camera in a room), never across them: an image classified in 0.05 ms and a camera frame searched for
a hand in 16 ms are different things. Measured machines pick from their own rows
(:func:`~asl_edge.report.analysis.pick`); a Raspberry Pi without results of its own picks from the
ESTIMATES table of :func:`pi_section`, built from the same candidate rows, so the artifact a Pi
sentence names is always in that table.
"""

from __future__ import annotations

from dataclasses import dataclass

from asl_edge.report.analysis import (
    ACCURACY_TOLERANCE_PP,
    TIE_RELATIVE,
    USE_CASE,
    USE_CASES,
    UseCase,
    fmt,
    pick,
    rows_of,
    use_case_of,
    worst_shift,
)
from asl_edge.report.document import Document
from asl_edge.runtime.fmt import plural

PIPELINE_SUFFIX = " + hand localiser"  # asl_edge.bench.run names a camera pipeline row "<classifier> + hand localiser"


@dataclass(frozen=True)
class Answer:
    """What to ship on one device for one use case.

    Attributes:
        device: the machine section's title, or the Raspberry Pi of an estimate.
        use: the use case.
        row: the result row picked (its ``data`` filled in).
        latency_ms: its p50 (measured) or its estimate.
        why: how it was picked.
        basis: ``measured: <runtime>, <n> threads`` or ``estimated from ...``.
    """

    device: str
    use: UseCase
    row: dict
    latency_ms: float
    why: str
    basis: str

    @property
    def estimated(self) -> bool:
        return self.basis.startswith("estimated")


def data_of(row: dict, doc: dict) -> str:
    """What a row's accuracy was measured on, with its count (the row's own description, else the
    file's only data set, else the count alone)."""
    sets = (doc.get("data") or {}).get("sets") or []
    if row.get("data"):
        return str(row["data"])
    if len(sets) == 1:
        return str(sets[0])
    n = row.get("num_samples")
    return f"{n} images" if n else "data not recorded"


def ms(value: float, estimated: bool = False) -> str:
    """A latency with the digits that mean something at its size (an estimate: two significant digits)."""
    if estimated:
        return f"{float(f'{value:.2g}'):g}"
    return f"{value:.3f}" if value < 1 else f"{value:.2f}" if value < 10 else f"{value:.1f}"


def shipped(row: dict) -> str:
    """The file to ship for a row (a camera pipeline row: its classifier)."""
    return row["artifact"].removesuffix(PIPELINE_SUFFIX)


def sentence(a: Answer) -> str:
    """``For <use case>, ship X, N KB, A% on <data>, about T ms per <unit> on D (measured|estimated ...).``"""
    r = a.row
    localiser = " with its hand localiser (the hand models ship inside the package)" if a.use.key == "camera" else ""
    return (f"For {a.use.title}, ship `{shipped(r)}`{localiser}, {r['size_bytes'] / 1024:,.1f} KB, "
            f"{r['accuracy']:.2%} on {r['data']}, about {ms(a.latency_ms, a.estimated)} ms per {a.use.unit} "
            f"on {a.device} ({a.basis}).")


# -- measured machines ------------------------------------------------------------------------------
def machine_answers(title: str, doc: dict) -> list[Answer]:
    """The pick per use case among the CPU rows one machine measured (``doc``: its first run)."""
    rows = [{**r, "data": data_of(r, doc)} for r in doc["results"]]
    out = []
    for use in (u for u in USE_CASES if u.pick):
        rec = pick(rows_of(rows, use), unit=use.unit)
        if rec:
            r = rec["row"]
            out.append(Answer(title, use, r, r["latency_ms"]["p50"], rec["why"],
                              f"measured: {r['runtime']}, {plural(r.get('threads'), 'thread')}"))
    return out


# -- Raspberry Pi estimates -------------------------------------------------------------------------
def is_board(doc: dict, device: str) -> bool:
    m = doc["machine"]
    return any(device.lower() in (m.get(k) or "").lower() for k in ("board", "device"))


def pi_candidates(docs: list[dict]) -> list[dict]:
    """Rows to estimate on a Pi: each artifact's first measured CPU row over the files given (a Pi's
    own files left out), with its estimates (``estimate_ms``, ``basis``) and ``data`` filled in."""
    from asl_edge.bench.pi_estimate import DEVICES, estimates

    rows, seen = [], set()
    for d in docs:
        if any(is_board(d, device) for device in DEVICES):
            continue
        for r in d["results"]:
            if r["status"] == "ok" and r.get("device", "cpu") == "cpu" and r["artifact"] not in seen \
                    and use_case_of(r).pick:
                seen.add(r["artifact"])
                rows.append({**r, "data": data_of(r, d)})
    est = {e["artifact"]: e for e in estimates(rows)}
    return [{**r, "estimate_ms": est[r["artifact"]]["estimate_ms"], "basis": est[r["artifact"]]["basis"],
             "macs_total": est[r["artifact"]]["macs"]} for r in rows if r["artifact"] in est]


def _estimate_basis(r: dict, device: str) -> str:
    ref = r["basis"][device]
    localiser = ", the hand localiser's in float" if r.get("localiser_macs") else ""
    return (f"estimated from its {r['macs_total'] / 1e6:,.1f} M multiply-accumulates{localiser}, at the rate of a "
            f"published {ref.network.split(' (')[0]} run on that board: a lower bound")


def pi_answers(docs: list[dict]) -> list[Answer]:
    """The pick per use case on each Raspberry Pi without results of its own, from its estimates."""
    from asl_edge.bench.pi_estimate import DEVICES

    candidates = pi_candidates(docs)
    out = []
    for device in DEVICES:
        if any(is_board(d, device) for d in docs):
            continue  # measured: its own section answers
        for use in (u for u in USE_CASES if u.pick):
            rec = pick(rows_of(candidates, use), latency=lambda r, d=device: r["estimate_ms"][d],
                       ceiling=lambda r, d=device: (r["estimate_ms"][d] * (1 + TIE_RELATIVE),
                                                    f"{TIE_RELATIVE:.0%} above it: estimates are not that precise"),
                       unit=use.unit, fastest_means="the lowest estimate")
            if rec:
                r = rec["row"]
                out.append(Answer(device, use, r, r["estimate_ms"][device], rec["why"], _estimate_basis(r, device)))
    return out


# -- the box -----------------------------------------------------------------------------------------
def deploy_box(out: Document, answers: list[Answer], devices: list[str] = ()) -> None:
    """"Deploy this": one paragraph per device (a sentence per use case), then a table per use case;
    ``devices``: every machine reported, so that one with no answer says so."""
    out.h(2, "Deploy this")
    out.p("Two uses, never ranked together: **close-up photographs** (" + USE_CASE["closeup"].what + "; ms per "
          "image) and **a camera in a room** (" + USE_CASE["camera"].what + "; ms and frames/s per frame). Pick the "
          "line of your device and use.")
    by_device: dict[str, list[Answer]] = {d: [] for d in devices}
    for a in answers:
        by_device.setdefault(a.device, []).append(a)
    for device, items in by_device.items():
        out.p(f"**{device}:** " + (" ".join(sentence(a) for a in items) or
                                   "nothing to ship: no CPU row was measured there (see its section)."))
    for use in (u for u in USE_CASES if u.pick):
        rows = [a for a in answers if a.use is use]
        if rows:
            out.h(3, f"Deploy for {use.title} ({use.units})")
            out.table(["device", "ship", "runtime, threads", use.accuracy, "worst camera shift", "size KB",
                       f"p50 ms per {use.unit}", use.rate, "figure", "why"], [_box_row(a) for a in rows])


def _box_row(a: Answer) -> list[str]:
    r = a.row
    worst = worst_shift(r)
    runtime = "-" if a.estimated else f"{r['runtime']}, {r.get('threads') or '-'}"
    rate = "-" if a.estimated else f"{r['throughput_ips']:,.0f}"
    return [a.device, f"`{shipped(r)}`", runtime, f"{r['accuracy']:.2%} on {r['data']}",
            f"{worst[1]:.2%} ({worst[0]})" if worst else "not measured", f"{r['size_bytes'] / 1024:,.1f}",
            ("~" if a.estimated else "") + ms(a.latency_ms, a.estimated), rate,
            "ESTIMATE" if a.estimated else "measured", a.why]


def pi_section(out: Document, docs: list[dict], answers: list[Answer]) -> None:
    """Raspberry Pi 4 / Pi 5 estimates per use case, measured Pi rows beside them, the picks marked."""
    from asl_edge.bench.pi_estimate import DEVICES, MOBILENET_PAPER, REFERENCES

    candidates = pi_candidates(docs)
    if not candidates:
        return
    measured = _measured_on_pi(docs)
    picked = {(a.device, a.use.key, a.row["artifact"]) for a in answers if a.estimated}
    out.h(2, "Raspberry Pi 4 and Pi 5: ESTIMATES, not measurements")
    out.p("*Estimated*, not measured: each figure scales a published latency of a reference network on that board "
          "by the ratio of multiply-accumulates (estimate = model MACs / published MACs per ms). The published "
          "runs used 4 threads on networks far larger than these models; a tiny model parallelises less well and "
          "pays a fixed per-call cost, so read them as compute-bound lower bounds. Measured Pi rows, where a Pi's "
          f"results file is given, stand beside them. Accuracy: as measured by `asl-edge benchmark` (the first file "
          f"given that has the artifact); the pick: within {ACCURACY_TOLERANCE_PP} points of the best, the lowest "
          f"estimate, estimates within {TIE_RELATIVE:.0%} of it tied and the smallest file of those.")
    for use in (u for u in USE_CASES if u.pick):
        rows = rows_of(candidates, use)
        if not rows:
            continue
        out.h(3, f"{use.title[0].upper()}{use.title[1:]}: ms per {use.unit}, ESTIMATED")
        head = ["artifact", "precision", "MACs (M)", use.accuracy]
        for device in DEVICES:
            head += [f"{device} ESTIMATE ms per {use.unit}", f"{device} measured p50 ms"]
        head.append("picked for")
        table = []
        for r in rows:
            cells = [r["artifact"], r.get("precision") or "-", f"{r['macs_total'] / 1e6:.2f}", f"{r['accuracy']:.2%}"]
            for device in DEVICES:
                cells += [f"~{ms(r['estimate_ms'][device], estimated=True)} (estimate)",
                          fmt(measured.get((device, r["artifact"])), ".3f")]
            cells.append(", ".join(d for d in DEVICES if (d, use.key, r["artifact"]) in picked) or "-")
            table.append(cells)
        out.table(head, table)
    out.p("Sources of the published figures:")
    out.table(["board", "arithmetic", "reference network", "MACs (M)", "published ms", "MACs per ms (M)", "source"],
              [[r.device, r.precision, r.network, f"{r.macs / 1e6:.0f}", f"{r.latency_ms:.1f}",
                f"{r.macs_per_ms / 1e6:.1f}", f"{r.citation}{'; ' + r.derived if r.derived else ''} [link]({r.url})"]
               for r in REFERENCES])
    out.p(f"MobileNet v1 1.0 224: 569 M mult-adds ([Howard et al. 2017]({MOBILENET_PAPER}), Table 8); "
          "`asl_edge.bench.macs.count_macs` counts 568.7 M in the Keras MobileNet converted to .tflite. fp16 and "
          "dynamic-range artifacts take the fp32 rate (a CPU computes them in float32); ONNX artifacts take the "
          "rate of their precision although the published figures are TensorFlow Lite/XNNPACK ones; a camera "
          "pipeline adds its hand localiser's multiply-accumulates at the fp32 rate.")


def _measured_on_pi(docs: list[dict]) -> dict[tuple[str, str], float]:
    """The lowest measured CPU p50 per (Pi, artifact) in a Pi's own results files."""
    from asl_edge.bench.pi_estimate import DEVICES

    measured: dict[tuple[str, str], float] = {}
    for device in DEVICES:
        for d in (d for d in docs if is_board(d, device)):
            for r in d["results"]:
                if r["status"] == "ok" and r.get("device", "cpu") == "cpu":
                    key = (device, r["artifact"])
                    measured[key] = min(measured.get(key, r["latency_ms"]["p50"]), r["latency_ms"]["p50"])
    return measured
