"""What the report works out from result rows: the use cases, the pick per use case, the tables, int8 against
fp32, repeatability."""

from __future__ import annotations

from dataclasses import dataclass

from asl_edge.report.document import md_table
from asl_edge.runtime.fmt import percent

ACCURACY_TOLERANCE_PP = 0.5


# -- pieces ---------------------------------------------------------------------------------------
def fmt(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


TABLE_HEAD = ["artifact", "runtime", "device", "threads", "size KB", "gzip KB", "accuracy", "p50 ms", "p90 ms",
              "p99 ms", "images/s", "load ms", "peak RSS MB", "status"]


def table_rows(rows: list[dict]) -> list[list[str]]:
    """The benchmark table's cells, one list per result row."""
    out = []
    for r in rows:
        lat = r.get("latency_ms") or {}
        out.append([r["artifact"], r.get("runtime") or "-", r.get("device", "cpu"), fmt(r.get("threads"), "d"),
                    f"{r['size_bytes'] / 1024:.1f}", fmt((r.get("size_gzip_bytes") or 0) / 1024, ".1f"),
                    percent(r["accuracy"]), fmt(lat.get("p50"), ".3f"), fmt(lat.get("p90"), ".3f"),
                    fmt(lat.get("p99"), ".3f"), fmt(r["throughput_ips"], ",.0f"), fmt(r.get("load_ms"), ".1f"),
                    fmt(r.get("peak_rss_mb"), ".0f"), r["status"]])
    return out


def table_head(use: UseCase) -> list[str]:
    """:data:`TABLE_HEAD` in the units of one use case (ms per image, per frame or per crop)."""
    names = {"accuracy": use.accuracy, "p50 ms": f"p50 ms per {use.unit}", "p90 ms": f"p90 ms per {use.unit}",
             "p99 ms": f"p99 ms per {use.unit}", "images/s": use.rate}
    return [names.get(h, h) for h in TABLE_HEAD]


def table(rows: list[dict]) -> str:
    """The benchmark table as Markdown (also what ``asl-edge benchmark`` prints)."""
    return md_table(TABLE_HEAD, table_rows(rows))


def worst_shift(row: dict) -> tuple[str, float] | None:
    """The camera shift with the lowest accuracy in a row (``None`` when no shifts were measured)."""
    shifts = {k: v.get("accuracy") for k, v in (row.get("shifts") or {}).items() if v.get("accuracy") is not None}
    return min(shifts.items(), key=lambda kv: kv[1]) if shifts else None


# -- use cases: what the user deploys for -----------------------------------------------------------
@dataclass(frozen=True)
class UseCase:
    """What a result row's latency is a latency of, and whether the report picks an artifact for it.

    Attributes:
        key: ``closeup``, ``camera`` or ``crop``.
        title: the use case as the report names it.
        what: what one call handles.
        unit: one call's input (``ms per <unit>``).
        rate: calls per second, as the tables head them.
        accuracy: what the accuracy column means.
        pick: whether an artifact is picked for it (the classifier alone on its own localiser's crops
            is a part of the camera pipeline, never shipped on its own).
    """

    key: str
    title: str
    what: str
    unit: str
    rate: str
    accuracy: str
    pick: bool = True

    @property
    def units(self) -> str:
        """How its tables measure a call: ``ms per image``; a frame also by the frames per second."""
        return f"ms and {self.rate} per {self.unit}" if self.key == "camera" else f"ms per {self.unit}"


USE_CASES = (
    UseCase("closeup", "close-up photographs", "a photograph the hand fills, classified whole", "image",
            "images/s", "held-out accuracy"),
    UseCase("camera", "a camera in a room",
            "a 320x240 frame with the hand somewhere in it: the hand localiser finds it, the classifier reads its crop",
            "frame", "frames/s", "frames read right"),
    UseCase("crop", "camera models' classifier alone",
            "the hand crop the model's own localiser made (a part of the camera pipeline, not a deployment figure)",
            "crop", "crops/s", "accuracy on the crops", pick=False),
)
USE_CASE = {u.key: u for u in USE_CASES}
# Older results files have no hand_localiser field; their crop rows say so in their data description
# (asl_edge.bench.run._localised_data).
CROPS_DESCRIPTION = "localised hand crops"


def use_case_of(row: dict) -> UseCase:
    """Which use case a result row measures (see :data:`USE_CASES`)."""
    from asl_edge.bench.pipeline import PIPELINE_FORMAT

    if row.get("format") == PIPELINE_FORMAT:
        return USE_CASE["camera"]
    localises = row.get("hand_localiser")
    if localises is None:
        localises = CROPS_DESCRIPTION in str(row.get("data") or "")
    return USE_CASE["crop" if localises else "closeup"]


def rows_of(rows: list[dict], use: UseCase) -> list[dict]:
    return [r for r in rows if use_case_of(r) is use]


# -- the pick ---------------------------------------------------------------------------------------
# Two latencies within timing noise of each other are a tie. The noise is the fastest row's own
# spread over its timing rounds (its slowest round's p50); a row timed in one round (the camera
# pipeline rows, older files) and an estimate have no measured spread and take this relative margin.
TIE_RELATIVE = 0.10


def _p50(r: dict) -> float:
    return r["latency_ms"]["p50"]


def noise_ceiling(row: dict) -> tuple[float, str]:
    """The latency up to which another row ties with ``row`` (the faster one), and why."""
    rounds = [x["p50"] for x in row.get("rounds") or [] if isinstance(x.get("p50"), (int, float))]
    if len(rounds) > 1:
        return max(rounds), f"the slowest of its {len(rounds)} timing rounds"
    return _p50(row) * (1 + TIE_RELATIVE), f"{TIE_RELATIVE:.0%} above it (timed in one round: no measured spread)"


def _accurate(ok: list[dict], tolerance_pp: float) -> tuple[list[dict], str]:
    """The rows within ``tolerance_pp`` of the best accuracy (and worst camera shift, where measured)."""
    top = max(r["accuracy"] for r in ok)
    eligible = [r for r in ok if (top - r["accuracy"]) * 100 <= tolerance_pp]
    why = f"within {tolerance_pp} points of the best accuracy ({top:.2%})"
    robust = [(r, worst_shift(r)) for r in eligible if worst_shift(r)]
    if robust:
        best_worst = max(w[1] for _, w in robust)
        eligible = [r for r, w in robust if (best_worst - w[1]) * 100 <= tolerance_pp]
        why += f" and of the best worst camera shift ({best_worst:.2%})"
    return eligible, why


def pick(rows: list[dict], latency=_p50, ceiling=noise_ceiling, unit: str = "image",
         tolerance_pp: float = ACCURACY_TOLERANCE_PP, fastest_means: str = "the fastest") -> dict | None:
    """What to deploy among measured (or estimated) CPU rows of one use case, and why.

    Among the rows within ``tolerance_pp`` points of the best accuracy (and of the best worst camera
    shift, where shifts were measured), those whose latency ties with the fastest's (within its
    timing noise: :func:`noise_ceiling`), and of those the smallest file, then the fewest threads
    (the other cores stay free), then the lowest latency.

    Args:
        rows: result rows of one use case.
        latency: a row's latency in ms (default: its measured p50).
        ceiling: ``(latency up to which a row ties with the fastest row, why)``.
        unit: what one call handles (``image``, ``frame``), for the reason.
        fastest_means: how the reason names the lowest ``latency`` ("the lowest estimate").

    Returns:
        ``{"row", "why", "tied"}`` or ``None`` when no row was measured.
    """
    ok = [r for r in rows if r["status"] == "ok" and r.get("device", "cpu") == "cpu"
          and isinstance(r.get("accuracy"), (int, float))]
    if not ok:
        return None
    eligible, accurate = _accurate(ok, tolerance_pp)
    fastest = min(eligible, key=latency)
    top, noise = ceiling(fastest)
    tied = [r for r in eligible if latency(r) <= top]
    choice = min(tied, key=lambda r: (r["size_bytes"], r.get("threads") or 0, latency(r)))
    why = f"{fastest_means} ({latency(fastest):.3f} ms per {unit}) of the rows {accurate}"
    if len(tied) > 1:
        why += (f"; {len(tied)} rows tie with it (up to {top:.3f} ms: {noise}), and this is the smallest file of "
                "those (then the fewest threads)")
    return {"row": choice, "why": why, "tied": tied}


def recommend(rows: list[dict], tolerance_pp: float = ACCURACY_TOLERANCE_PP, use: str = "closeup") -> dict | None:
    """The pick among one machine's measured CPU rows for ``use`` (:data:`USE_CASES`): :func:`pick`."""
    case = USE_CASE[use]
    return pick(rows_of(rows, case), unit=case.unit, tolerance_pp=tolerance_pp)


def int8_vs_fp32(rows: list[dict]) -> list[dict]:
    """p50 of int8 against fp32 of the same exported model, runtime and thread count (measured, never assumed)."""
    from asl_edge.bench.pi_estimate import model_stem

    ok = {(model_stem(r["artifact"]), r["format"].split("_")[0], r["runtime"], r["threads"], r["precision"]): r
          for r in rows if r["status"] == "ok" and r.get("device", "cpu") == "cpu" and "_" in r.get("format", "")}
    out = []
    for key, r in sorted(ok.items(), key=lambda kv: (kv[0][:2], kv[0][3] or 0)):
        model, family, runtime, threads, precision = key
        fp32 = ok.get((model, family, runtime, threads, "fp32"))
        if precision == "int8" and fp32:
            out.append({"model": model, "family": family, "runtime": runtime, "threads": threads,
                        "int8": r["latency_ms"]["p50"], "fp32": fp32["latency_ms"]["p50"],
                        "ratio": r["latency_ms"]["p50"] / fp32["latency_ms"]["p50"]})
    return out


def _row_key(r: dict) -> tuple:
    return r["artifact"], r.get("runtime"), r.get("device", "cpu"), r.get("threads")


def repeatability(first: list[dict], again: list[dict]) -> list[dict]:
    """p50 of the same rows in two runs, their relative difference, and how far apart the first
    run's rounds were (slowest round p50 / fastest - 1; None for a run of one round)."""
    second = {_row_key(r): r for r in again if r["status"] == "ok"}
    out = []
    for r in first:
        other = second.get(_row_key(r))
        if r["status"] == "ok" and other:
            a, b = r["latency_ms"]["p50"], other["latency_ms"]["p50"]
            rounds = [x["p50"] for x in r.get("rounds") or []]
            out.append({"artifact": r["artifact"], "runtime": r["runtime"], "threads": r.get("threads"),
                        "p50": a, "p50_again": b, "difference": abs(b - a) / a,
                        "round_spread": max(rounds) / min(rounds) - 1 if len(rounds) > 1 else None})
    return out


def pareto_front(rows: list[dict], cost: str, gain: str = "int8_accuracy") -> list[dict]:
    """The rows no other row beats on both ``cost`` (lower is better) and ``gain`` (higher is better),
    cheapest first: the architectures worth choosing for that cost."""
    front, best = [], float("-inf")
    for r in sorted(rows, key=lambda r: (r[cost], -r[gain])):
        if r[gain] > best:
            front.append(r)
            best = r[gain]
    return front
