"""What the report works out from result rows: what to deploy, the table, int8 against fp32, repeatability."""

from __future__ import annotations

from asl_edge.report.document import md_table

DEPLOYED_SUFFIX = "_int8.tflite"


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
                    fmt(r["accuracy"], ".4f"), fmt(lat.get("p50"), ".3f"), fmt(lat.get("p90"), ".3f"),
                    fmt(lat.get("p99"), ".3f"), fmt(r["throughput_ips"], ",.0f"), fmt(r.get("load_ms"), ".1f"),
                    fmt(r.get("peak_rss_mb"), ".0f"), r["status"]])
    return out


def table(rows: list[dict]) -> str:
    """The benchmark table as Markdown (also what ``asl-edge benchmark`` prints)."""
    return md_table(TABLE_HEAD, table_rows(rows))


def worst_shift(row: dict) -> tuple[str, float] | None:
    """The camera shift with the lowest accuracy in a row (``None`` when no shifts were measured)."""
    shifts = {k: v.get("accuracy") for k, v in (row.get("shifts") or {}).items() if v.get("accuracy") is not None}
    return min(shifts.items(), key=lambda kv: kv[1]) if shifts else None


def recommend(rows: list[dict], tolerance_pp: float = ACCURACY_TOLERANCE_PP) -> dict | None:
    """What to deploy on the machine these CPU rows were measured on, and why.

    Among the artifacts within ``tolerance_pp`` points of the best held-out accuracy (and, where
    camera shifts were measured, of the best worst-shift accuracy), the fastest p50; a tie in p50
    (within 5%) goes to the smaller file.

    Returns:
        ``{"row", "why"}`` or ``None`` when no row was measured.
    """
    ok = [r for r in rows if r["status"] == "ok" and r.get("device", "cpu") == "cpu"]
    if not ok:
        return None
    top = max(r["accuracy"] for r in ok)
    eligible = [r for r in ok if (top - r["accuracy"]) * 100 <= tolerance_pp]
    why = f"within {tolerance_pp} points of the best held-out accuracy ({top:.2%})"
    robust = [(r, worst_shift(r)) for r in eligible if worst_shift(r)]
    if robust:
        best_worst = max(w[1] for _, w in robust)
        eligible = [r for r, w in robust if (best_worst - w[1]) * 100 <= tolerance_pp]
        why += f" and of the best worst camera shift ({best_worst:.2%})"
    fastest = min(r["latency_ms"]["p50"] for r in eligible)
    near = [r for r in eligible if r["latency_ms"]["p50"] <= fastest * 1.05]
    choice = min(near, key=lambda r: (r["size_bytes"], r["latency_ms"]["p50"]))
    why = f"the fastest ({choice['latency_ms']['p50']:.3f} ms p50) of the artifacts {why}"
    if len(near) > 1:
        why += "; the smallest of those within 5% of that p50"
    return {"row": choice, "why": why}


def int8_vs_fp32(rows: list[dict]) -> list[dict]:
    """p50 of int8 against fp32 of the same runtime and thread count (measured, never assumed)."""
    ok = {(r["format"].split("_")[0], r["runtime"], r["threads"], r["precision"]): r
          for r in rows if r["status"] == "ok" and r.get("device", "cpu") == "cpu" and "_" in r.get("format", "")}
    out = []
    for (family, runtime, threads, precision), r in sorted(ok.items(), key=lambda kv: (kv[0][0], kv[0][2] or 0)):
        fp32 = ok.get((family, runtime, threads, "fp32"))
        if precision == "int8" and fp32:
            out.append({"family": family, "runtime": runtime, "threads": threads, "int8": r["latency_ms"]["p50"],
                        "fp32": fp32["latency_ms"]["p50"], "ratio": r["latency_ms"]["p50"] / fp32["latency_ms"]["p50"]})
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
