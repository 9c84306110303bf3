"""``asl-edge benchmark`` and ``evaluate``: measuring artifacts where they run.

config, results (the JSON schema), targets (what and on which data), macs, memory, timing and
isolation (where a row runs) <- run (the orchestration); machine describes the host and
pi_estimate gives Raspberry Pi latency estimates from published figures. TensorFlow-free unless a
Keras row is measured.
"""

from asl_edge.bench.config import BenchConfig
from asl_edge.bench.results import load_results, save_results, validate_results
from asl_edge.bench.run import run_benchmark

__all__ = ["BenchConfig", "load_results", "run_benchmark", "save_results", "validate_results"]
