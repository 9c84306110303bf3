"""Benchmark settings, one frozen dataclass shared by the CLI, the API and the measuring code."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BenchConfig:
    """Benchmark settings.

    Attributes:
        threads: thread counts to measure.
        runs: timed single-image calls per row and round.
        rounds: timing rounds per row, interleaved across the rows; the best round is reported.
        warmup: untimed calls first (in every round).
        batch: batch size of the throughput measurement.
        data: data source; default the held-out split of the export's run, else the built-in set.
        gpu: GPU rows: ``None`` (default) adds them where a GPU is present; ``True`` always (a row says
            "not measured: no GPU" where there is none); ``False`` never.
        verify: check artifacts against their manifest first.
        device_name: a label for this machine.
        shifts: also score every camera shift (:mod:`asl_edge.runtime.shifts`) of each int8 TFLite
            artifact (the one to deploy), on the same data as its accuracy; the report shows them
            as a heat map.
    """

    threads: tuple[int, ...] = (1,)
    runs: int = 1000
    warmup: int = 20
    rounds: int = 5
    batch: int = 64
    data: str | None = None
    gpu: bool | None = None
    verify: bool = True
    device_name: str | None = None
    shifts: bool = False
