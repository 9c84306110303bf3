"""Raspberry Pi 4 and Pi 5 latency ESTIMATES from a model's MAC count and published figures.

Nothing here is measured on a Pi. Each estimate scales a published single-image latency of a
reference network on that board by the ratio of multiply-accumulates:

    estimate_ms = model_macs / (reference_macs / reference_ms)

The rates come from multi-threaded (4-thread) runs of networks 20 to 100 times larger than the
asl-edge models. A tiny model parallelises less well and pays a fixed per-call cost (tens of
microseconds) that no MAC count captures, so read the estimates as compute-bound lower bounds:
measure on the board (``asl-edge benchmark`` writes the same JSON there) before relying on them.
"""

from __future__ import annotations

from dataclasses import dataclass

XNNPACK_README = "https://github.com/google/XNNPACK/blob/75db3c093b6d74fe90b8df82670cd8a01102ba38/README.md#raspberry-pi"
ALLAN_README = ("https://github.com/aallan/benchmarking-ml-on-the-edge/blob/98467e058732a6626b6fb382980477b2121b34d2/"
                "README.md")
MOBILENET_PAPER = "https://arxiv.org/abs/1704.04861"


@dataclass(frozen=True)
class Reference:
    """A published latency of a reference network on a board.

    Attributes:
        device: ``Raspberry Pi 4`` or ``Raspberry Pi 5``.
        precision: ``fp32`` or ``int8`` arithmetic.
        network: the reference network.
        macs: its multiply-accumulates per image.
        latency_ms: the published latency per image.
        threads: threads of the published run.
        citation: who published it, where and how it was run.
        url: the source.
        derived: how the figure was derived when it is not a direct publication, else ``None``.
    """

    device: str
    precision: str
    network: str
    macs: float
    latency_ms: float
    threads: int
    citation: str
    url: str
    derived: str | None = None

    @property
    def macs_per_ms(self) -> float:
        return self.macs / self.latency_ms


_XNNPACK = ("XNNPACK README, 'Raspberry Pi' table, column 'RPi 4 (BCM2711, ARM64)': end2end-bench, multi-threaded, "
            "benchmarked Feb 8, 2022 (XNNPACK is LiteRT's CPU engine)")
_ALLAN = ("A. Allan, benchmarking-ml-on-the-edge README (results of his Hackster article 'Benchmarking TensorFlow and "
          "TensorFlow Lite on Raspberry Pi 5', 2023): TensorFlow Lite, 4 threads, quantised (uint8) SSD MobileNet v1")
# MobileNet v1 1.0 224: 569 M mult-adds (Howard et al. 2017, Table 8); asl_edge.bench.run.count_macs
# counts 568.7 M in a tf_keras MobileNet() converted to .tflite. Allan's SSD MobileNet v1 file
# (ssd_mobilenet_v1/tflite_for_rpi/mobilenet_v1.tflite in his repository): 728.0 M by count_macs;
# its time also includes the detection post-processing, so the Pi 5 rate below is if anything low.
_PI4_FP32 = Reference("Raspberry Pi 4", "fp32", "MobileNet v1 1.0 (224x224), FP32", 569e6, 77.0, 4, _XNNPACK,
                      XNNPACK_README)
_PI4_INT8 = Reference("Raspberry Pi 4", "int8", "MobileNet v1 1.0 (224x224), INT8 per-channel", 569e6, 24.0, 4,
                      _XNNPACK, XNNPACK_README)
_PI5_INT8 = Reference("Raspberry Pi 5", "int8", "SSD MobileNet v1 (300x300), uint8", 728.0e6, 16.9, 4, _ALLAN,
                      ALLAN_README)
# No published FP32 TensorFlow Lite figure for the Pi 5 was found, so its FP32 rate is the Pi 4's
# FP32 rate times the Pi 5 / Pi 4 INT8 rate ratio (both published above).
_PI5_FP32 = Reference(
    "Raspberry Pi 5", "fp32", "MobileNet v1 1.0 (224x224), FP32 (derived)", _PI4_FP32.macs,
    _PI4_FP32.latency_ms * _PI4_INT8.macs_per_ms / _PI5_INT8.macs_per_ms, 4, "derived from the two sources above",
    XNNPACK_README,
    derived="Pi 4 FP32 rate x (Pi 5 INT8 rate / Pi 4 INT8 rate); no published Pi 5 FP32 TensorFlow Lite figure was "
            "found")

REFERENCES: tuple[Reference, ...] = (_PI4_FP32, _PI4_INT8, _PI5_FP32, _PI5_INT8)
DEVICES = ("Raspberry Pi 4", "Raspberry Pi 5")

# Which arithmetic an artifact runs in on a Pi's CPU: fp16 weights are widened to fp32 at load and
# dynamic-range models keep float activations, so both take the fp32 rate (the cautious choice).
ARITHMETIC = {"fp32": "fp32", "fp16": "fp32", "dynamic": "fp32", "int8": "int8",
              "int8_mixed": "int8",  # mostly int8: the layers kept in float are few
              "int4": "int8"}  # int4 weights are widened to int8 by the kernels: int8 arithmetic


def reference(device: str, precision: str) -> Reference:
    """The published figure used for an artifact of ``precision`` on ``device``.

    Raises:
        KeyError: an unknown device or precision.
    """
    arithmetic = ARITHMETIC[precision]
    return next(r for r in REFERENCES if r.device == device and r.precision == arithmetic)


def estimate_ms(macs: int, precision: str, device: str) -> float:
    """Estimated single-image latency (ms) of a model with ``macs`` MACs on ``device``."""
    return macs / reference(device, precision).macs_per_ms


def model_stem(artifact: str) -> str:
    """The exported model an artifact belongs to: ``asl-digits-camera_int8.onnx + hand localiser`` ->
    ``asl-digits-camera`` (an export names its artifacts ``<model>_<precision>.<ext>``)."""
    name = artifact.split(" + ")[0]
    return name.rsplit("_", 1)[0] if "_" in name else name.rsplit(".", 1)[0]


def estimates(rows: list[dict]) -> list[dict]:
    """One estimate row per .tflite/.onnx artifact (and camera pipeline) found in benchmark result rows.

    The MAC count comes from the row, else from another row of the same exported model (ONNX rows:
    their TFLite twin, the same network, so the same count); an artifact with neither is left out.

    Returns:
        ``[{"artifact", "precision", "macs", "estimate_ms": {device: ms}, "basis": {device: Reference}}]``.
    """
    macs_of = {}
    for r in rows:
        if r.get("macs"):
            macs_of.setdefault(model_stem(r["artifact"]), r["macs"])
    out, seen = [], set()
    for r in rows:
        name, precision = r["artifact"], r.get("precision")
        pipeline = r.get("localiser_macs") is not None
        if name in seen or precision not in ARITHMETIC or not (pipeline or name.endswith((".tflite", ".onnx"))):
            continue
        if r.get("figure_kind") == "compiled estimate":  # an NPU compile (asl_edge.bench.below_pi), not for a Pi CPU
            continue
        seen.add(name)
        macs = r.get("macs") or macs_of.get(model_stem(name))
        if not macs:
            continue
        # The hand localiser's models run in float32 whatever the classifier's precision.
        extra = r.get("localiser_macs") or 0
        out.append({"artifact": name, "precision": precision, "macs": macs + extra,
                    "estimate_ms": {d: estimate_ms(macs, precision, d) + (estimate_ms(extra, "fp32", d) if extra else 0)
                                    for d in DEVICES},
                    "basis": {d: reference(d, precision) for d in DEVICES}})
    return out
