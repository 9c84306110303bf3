"""Quantisation you can see into: a per-Keras-layer int8 error report, and mixed int8.

**Layer report.** LiteRT's ``QuantizationDebugger`` runs the calibrated model in debug mode: every
quantised op also runs in float on the *dequantised inputs of that op* and a NumericVerify op
compares the two, so each op's error is its own and not the sum of the errors before it. The
debugger names ops by their TFLite output tensor, which the converter builds from the TensorFlow
op names of the traced Keras model, e.g. ``edge_cnn/re_lu/Relu6;edge_cnn/conv2d/BiasAdd;...``
(tensorflow/tensorflow#46073: they do not map back to Keras layers). :func:`layers_in_name` maps
them back: each ``;``-separated part is a ``/`` path whose deepest component that is a Keras layer
name names the layer. A fused op (convolution + folded BatchNorm + ReLU) maps to several layers;
its row is the layer with weights (the one that owns the MACs), the others are listed as
``fused``. An op whose name holds no layer (the converter names the model's last op after the
signature, ``StatefulPartitionedCall:0``) inherits the layer of the op that feeds it.

Limits: errors are local (each op on its own int8 inputs), so an activation outlier that inflates
one tensor's int8 scale and crushes its other channels is charged to no layer (the consumer's
reference sees the same crushed input); a weight outlier is charged to its layer. A layer whose
ops TFLite removes (Dropout, folded BatchNorm, a Reshape that is a no-op) has no row of its own;
Keras layers named like a TensorFlow op (``Conv2D``) could be matched wrongly; a model nested
inside another maps to its innermost layers.

Error columns per row: ``nsr`` (noise-to-signal: RMSE of the dequantised output over the standard
deviation of the float output; scale-free, so layers compare), ``rmse_scale`` (RMSE over the int8
scale, the debugger's classic metric: ~0.29 is pure rounding), ``max_abs_error``; plus the layer's
share of the model's MACs and weights. Rows are ranked worst ``nsr`` first.

**Mixed int8.** When full int8 fails ``--max-drop``, the ranked layers are kept in float
(tensorflow/tensorflow#62923, #61720: the converter itself has no ignored scope or mixed
precision; the debugger's ``denylisted_nodes`` gives both) a prefix at a time, 1, 2, 4, ... then
bisected, until the accuracy drop on the *validation* split is within ``max_drop``; the held-out
test split stays the gate of the written artifact. ONNX does the same with the same ranking through
``quantize_static(nodes_to_exclude=...)`` (ONNX node names map to Keras layers the same way; the
ranking is the TFLite one, so a layer that only ONNX Runtime's quantiser handles badly is found
late; see :func:`asl_edge.export.onnx.quantize_int8` for the one workaround an excluded node
needs). The mixed TFLite model has int8 input and output, as the full int8 one.
"""

from __future__ import annotations

import csv
import io
import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from asl_edge.runtime.errors import ExportError
from asl_edge.runtime.fsutil import atomic_write, atomic_write_json
from asl_edge.runtime.quiet import quiet_native_stderr

log = logging.getLogger(__name__)

REPORT_CSV = "layer_report.csv"
REPORT_JSON = "layer_report.json"
REPORT_KIND = "layer-report"
MAC_CLASSES = ("Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Dense")


@dataclass(frozen=True)
class LayerError:
    """The int8 error of one Keras layer's output and its weight in the model.

    Attributes:
        layer: Keras layer name.
        kind: Keras class name.
        fused: other Keras layers computed by the same TFLite op(s) (activation, BatchNorm).
        ops: TFLite op names of the layer.
        nodes: TFLite tensor names of the layer (what the debugger's ``denylisted_nodes`` takes).
        nsr: RMSE of the dequantised int8 output over the float output's standard deviation.
        rmse_scale: RMSE over the output's int8 scale (0.29: rounding alone).
        max_abs_error: largest absolute error of the output.
        macs: multiply-accumulates per inference.
        macs_share: share of the model's MACs.
        params: weights.
        size_share: share of the model's weights.
    """

    layer: str
    kind: str
    fused: tuple[str, ...]
    ops: tuple[str, ...]
    nodes: tuple[str, ...]
    nsr: float
    rmse_scale: float
    max_abs_error: float
    macs: int
    macs_share: float
    params: int
    size_share: float

    @property
    def keras_layers(self) -> tuple[str, ...]:
        return (self.layer, *self.fused)


@dataclass(frozen=True)
class MixedResult:
    """Outcome of the mixed-precision search.

    Attributes:
        float_layers: Keras layers kept in float, worst first.
        accuracy: accuracy of the chosen model on the search split.
        float_accuracy: the float model's accuracy on the search split.
        met: whether the drop is within ``max_drop``.
        trials: ``[{"float_layers": n, "accuracy": a}]`` for every model tried.
    """

    float_layers: tuple[str, ...]
    accuracy: float
    float_accuracy: float
    met: bool
    trials: tuple[dict, ...] = field(default_factory=tuple)


# -- Keras side: names, MACs, weights -------------------------------------------------------------
def keras_layers(model) -> dict:
    """Every layer by name, nested models' layers included."""
    out = {}
    for layer in model.layers:
        out[layer.name] = layer
        if hasattr(layer, "layers"):
            out.update(keras_layers(layer))
    return out


def layer_macs(layer) -> int:
    """Multiply-accumulates of one inference of a convolution or dense layer (0 for others)."""
    kind = type(layer).__name__
    if kind not in MAC_CLASSES:
        return 0
    try:
        out = [int(d) for d in layer.output.shape[1:]]
        inp = [int(d) for d in layer.input.shape[1:]]
    except (AttributeError, TypeError, ValueError):  # no static shape: count nothing rather than guess
        return 0
    if kind == "Dense":
        return int(np.prod(out[:-1] or [1])) * inp[-1] * out[-1]
    kh, kw = layer.kernel_size
    if kind == "DepthwiseConv2D":
        return int(np.prod(out)) * kh * kw
    if kind == "SeparableConv2D":
        spatial = int(np.prod(out[:-1]))
        return spatial * inp[-1] * layer.depth_multiplier * (kh * kw + out[-1])
    return int(np.prod(out)) * kh * kw * inp[-1] // getattr(layer, "groups", 1)


def layers_in_name(tensor_name: str, names: set[str] | dict) -> list[str]:
    """Keras layers named in a TFLite tensor or ONNX node name, in order, without repeats.

    >>> layers_in_name("edge_cnn/re_lu/Relu6;edge_cnn/conv2d/BiasAdd", {"re_lu", "conv2d"})
    ['re_lu', 'conv2d']
    """
    found: list[str] = []
    for part in tensor_name.split(";"):
        hits = [c for c in part.split("/")[:-1] if c in names]  # the last component is the TF op
        if hits and hits[-1] not in found:
            found.append(hits[-1])
    return found


def _primary(found: list[str], layers: dict) -> str:
    """The layer a fused op is reported under: the one with MACs, else with weights, else the first."""
    for test in (lambda n: layer_macs(layers[n]) > 0, lambda n: layers[n].count_params() > 0):
        hit = [n for n in found if test(n)]
        if hit:
            return hit[0]
    return found[0]


# -- TFLite: debugger, report, mixed conversion ---------------------------------------------------
def _nsr(float_out, quant_out, scale, zero_point) -> float:
    """RMSE of the dequantised output over the float output's standard deviation (0 for a flat tensor)."""
    f = np.asarray(float_out, np.float64)
    q = (np.asarray(quant_out, np.int32) - zero_point) * float(scale)
    std = f.std()
    return float(np.sqrt(((q - f) ** 2).mean()) / std) if std > 1e-12 else 0.0


class TFLiteMixed:
    """A calibrated Keras model that converts to int8 with any set of Keras layers kept in float.

    Calibration runs once; each :meth:`convert` is a quantisation pass of the calibrated model.
    """

    def __init__(self, model, samples: np.ndarray, debug_samples: np.ndarray | None = None):
        from asl_edge.keras_compat import tf

        def gen(data):
            return lambda: ([x[None].astype(np.float32)] for x in data)

        conv = tf.lite.TFLiteConverter.from_keras_model(model)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = gen(samples)
        self._tf = tf
        self._layers = keras_layers(model)
        debug = debug_samples if debug_samples is not None else samples
        try:
            with quiet_native_stderr():
                self._debugger = tf.lite.experimental.QuantizationDebugger(
                    converter=conv, debug_dataset=gen(debug),
                    debug_options=self._options(()))
        except Exception as exc:  # the MLIR converter raises several types
            raise ExportError(f"quantisation debugger failed: {str(exc).strip().splitlines()[0][:300]}") from None
        self._node_layers = self._map_nodes(self.convert(()))

    def _options(self, nodes: Sequence[str]):
        # fully_quantize: int8 input and output, as the full int8 artifact it replaces
        return self._tf.lite.experimental.QuantizationDebugOptions(
            layer_direct_compare_metrics={"nsr": _nsr}, denylisted_nodes=list(nodes) or None, fully_quantize=True)

    def _map_nodes(self, model_bytes: bytes) -> dict[str, list[str]]:
        """TFLite tensor name -> Keras layers, unnamed op outputs inheriting their input op's layers."""
        from ai_edge_litert.interpreter import Interpreter

        with quiet_native_stderr():
            interp = Interpreter(model_content=model_bytes)
        names = {t["index"]: t["name"] for t in interp.get_tensor_details()}
        by_tensor: dict[int, list[str]] = {}
        for op in interp._get_ops_details():  # no public op list; LiteRT's own analyzer uses this
            for out in op["outputs"]:
                found = layers_in_name(names[out], self._layers)
                if not found:
                    found = next((by_tensor[i] for i in op["inputs"] if by_tensor.get(i)), [])
                by_tensor[out] = found
        return {names[i]: found for i, found in by_tensor.items() if found}

    def convert(self, keep_float: Sequence[str]) -> bytes:
        """The int8 model (int8 input and output) with the ops of the Keras layers ``keep_float`` left in float."""
        nodes = [n for n, found in getattr(self, "_node_layers", {}).items() if set(found) & set(keep_float)]
        if keep_float and not nodes:
            raise ExportError(f"no TFLite op maps to the layers {', '.join(keep_float)}")
        try:
            self._debugger.options = self._options(nodes)
        except ValueError:
            # With every quantisable op denylisted the debug model has no NumericVerify op left and the
            # setter's re-initialisation raises "Please check if the quantized model is in debug mode",
            # after it has stored the options; the non-debug model below still uses them.
            pass
        with quiet_native_stderr():
            return self._debugger.get_nondebug_quantized_model()

    def report(self) -> list[LayerError]:
        """Runs the debug model on the debug samples; one row per Keras layer, worst first."""
        self._debugger.options = self._options(())
        with quiet_native_stderr():
            self._debugger.run()
        buf = io.StringIO()
        self._debugger.layer_statistics_dump(buf)
        stats = list(csv.DictReader(io.StringIO(buf.getvalue())))
        grouped: dict[str, dict] = {}
        for row in stats:
            found = self._node_layers.get(row["tensor_name"]) or layers_in_name(row["tensor_name"], self._layers)
            if not found:
                log.debug("no Keras layer for TFLite tensor %s", row["tensor_name"])
                continue
            g = grouped.setdefault(_primary(found, self._layers), {"fused": [], "ops": [], "nodes": [], "nsr": [],
                                                                   "rmse_scale": [], "max": []})
            g["fused"] += [n for n in found if n not in g["fused"]]
            g["ops"].append(row["op_name"])
            g["nodes"].append(row["tensor_name"])
            g["nsr"].append(float(row["nsr"]))
            g["rmse_scale"].append(float(np.sqrt(float(row["mean_squared_error"])) / float(row["scale"])))
            g["max"].append(float(row["max_abs_error"]))
        total_macs = sum(layer_macs(layer) for layer in self._layers.values()) or 1
        total_params = sum(l.count_params() for l in self._layers.values() if not hasattr(l, "layers")) or 1
        rows = []
        for name, g in grouped.items():
            group = [name] + [n for n in g["fused"] if n != name]
            macs = sum(layer_macs(self._layers[n]) for n in group)
            params = sum(self._layers[n].count_params() for n in group)
            rows.append(LayerError(name, type(self._layers[name]).__name__, tuple(group[1:]), tuple(g["ops"]),
                                   tuple(g["nodes"]), max(g["nsr"]), max(g["rmse_scale"]), max(g["max"]), macs,
                                   macs / total_macs, params, params / total_params))
        return sorted(rows, key=lambda r: -r.nsr)


# -- search ---------------------------------------------------------------------------------------
def search_mixed(ranked: Sequence[str], accuracy_of: Callable[[tuple[str, ...]], float], float_accuracy: float,
                 max_drop: float) -> MixedResult:
    """Fewest leading layers of ``ranked`` to keep in float so the drop is within ``max_drop`` points.

    Tries prefixes of 1, 2, 4, ... layers until one meets the target, then bisects down to the
    shortest such prefix (assuming that more float layers never lose accuracy; the trials are
    recorded, so a violation is visible).

    Args:
        ranked: Keras layer names, worst int8 error first.
        accuracy_of: accuracy of the model with these layers in float.
        float_accuracy: the float model's accuracy on the same data.
        max_drop: largest allowed drop, in points.
    """
    tried: dict[int, float] = {}

    def ok(k: int) -> bool:
        if k not in tried:
            tried[k] = accuracy_of(tuple(ranked[:k]))
            log.info("mixed int8, %d layer(s) in float: accuracy %.4f (float %.4f)", k, tried[k], float_accuracy)
        return (float_accuracy - tried[k]) * 100 <= max_drop + 1e-9

    lo, hi = 0, 1
    while hi < len(ranked) and not ok(hi):
        lo, hi = hi, min(2 * hi, len(ranked))
    met = ok(hi) if ranked else False
    while met and hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    k = hi if ranked else 0
    trials = tuple({"float_layers": n, "accuracy": a} for n, a in sorted(tried.items()))
    return MixedResult(tuple(ranked[:k]), tried.get(k, float("nan")), float_accuracy, met, trials)


# -- report files ---------------------------------------------------------------------------------
def report_doc(rows: Sequence[LayerError], model_name: str, samples: int, mixed: Sequence[dict] = ()) -> dict:
    """The ``layer_report.json`` document (``kind: layer-report``), with the mixed artifacts found, if any."""
    return {"kind": REPORT_KIND, "model": model_name, "debug_samples": samples, "ranked_by": "nsr",
            "mapping": "TFLite tensor names -> Keras layer names (asl_edge.export.layers)",
            "layers": [{"rank": i + 1, **asdict(r)} for i, r in enumerate(rows)], "mixed": list(mixed)}


def write_report(rows: Sequence[LayerError], folder: Path, model_name: str, samples: int,
                 mixed: Sequence[dict] = ()) -> dict:
    """Writes ``layer_report.csv`` and ``layer_report.json`` into ``folder``; returns the JSON document."""
    doc = report_doc(rows, model_name, samples, mixed)
    buf = io.StringIO()
    cols = ["rank", "layer", "kind", "nsr", "rmse_scale", "max_abs_error", "macs", "macs_share", "params",
            "size_share", "fused", "ops"]
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(cols)
    for r in doc["layers"]:
        writer.writerow([r["rank"], r["layer"], r["kind"], f"{r['nsr']:.6g}", f"{r['rmse_scale']:.6g}",
                         f"{r['max_abs_error']:.6g}", r["macs"], f"{r['macs_share']:.4f}", r["params"],
                         f"{r['size_share']:.4f}", " ".join(r["fused"]), " ".join(r["ops"])])
    atomic_write(folder / REPORT_CSV, buf.getvalue())
    atomic_write_json(folder / REPORT_JSON, doc)
    return doc


def format_table(doc: dict, top: int = 10) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the worst ``top`` layers, for terminal and report tables."""
    head = ["rank", "layer", "kind", "int8 NSR", "RMSE/scale", "MACs %", "size %"]
    rows = [[str(r["rank"]), r["layer"], r["kind"], f"{r['nsr']:.4f}", f"{r['rmse_scale']:.2f}",
             f"{100 * r['macs_share']:.1f}", f"{100 * r['size_share']:.1f}"] for r in doc["layers"][:top]]
    return head, rows


# -- accuracy and latency of candidate artifacts --------------------------------------------------
def accuracy(path: Path, x: np.ndarray, y: np.ndarray, batch: int = 256) -> float:
    from asl_edge.runtime.runners import load_runner

    runner = load_runner(path)
    probs = np.concatenate([runner.predict(x[i:i + batch]) for i in range(0, len(x), batch)])
    return float((probs.argmax(1) == y).mean())


def latency_ms(path: Path, x: np.ndarray, runs: int = 30) -> float:
    """Median single-image latency in milliseconds (a quick figure beside the benchmark's)."""
    from asl_edge.runtime.runners import load_runner

    runner = load_runner(path, threads=1)
    one = x[:1]
    runner.predict(one)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        runner.predict(one)
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1000)


def tflite_accuracy_of(mixed: TFLiteMixed, x: np.ndarray, y: np.ndarray) -> Callable[[tuple[str, ...]], float]:
    def run(keep: tuple[str, ...]) -> float:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "candidate.tflite"
            path.write_bytes(mixed.convert(keep))
            return accuracy(path, x, y)

    return run


# -- ONNX -----------------------------------------------------------------------------------------
def onnx_nodes(onnx_path: Path, keep_float: Sequence[str], layer_names) -> list[str]:
    """ONNX node names (tf2onnx names nodes after the TensorFlow ops) of the Keras layers ``keep_float``."""
    import onnx

    keep = set(keep_float)
    graph = onnx.load(str(onnx_path)).graph
    return [n.name for n in graph.node if set(layers_in_name(n.name, layer_names)) & keep]


def onnx_accuracy_of(prepared: Path, samples: np.ndarray, x: np.ndarray, y: np.ndarray,
                     layer_names) -> Callable[[tuple[str, ...]], float]:
    from asl_edge.export.onnx import quantize_int8

    def run(keep: tuple[str, ...]) -> float:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "candidate_int8.onnx"
            quantize_int8(prepared, path, samples, onnx_nodes(prepared, keep, layer_names))
            return accuracy(path, x, y)

    return run


def summary(result: MixedResult, report_rows: Sequence[LayerError], split: str = "validation") -> dict:
    """Manifest fields of a mixed artifact."""
    by_name = {r.layer: r for r in report_rows}
    return {"float_layers": list(result.float_layers),
            "float_layers_fused": {n: list(by_name[n].fused) for n in result.float_layers if n in by_name},
            "float_layers_macs_share": round(sum(by_name[n].macs_share for n in result.float_layers
                                                 if n in by_name), 4),
            "search": {"split": split, "float_accuracy": result.float_accuracy, "accuracy": result.accuracy,
                       "met": result.met, "trials": list(result.trials)}}


# -- the export pipeline's hook -------------------------------------------------------------------
@dataclass(frozen=True)
class MixedArtifact:
    """A mixed int8 artifact found by the search, for the pipeline to write and verify.

    Attributes:
        format: its row of the format table (``tflite_int8_mixed`` or ``onnx_int8_mixed``).
        content: the file's bytes.
        info: manifest fields (float layers, search trials, full int8 beside it).
    """

    format: object
    content: bytes
    info: dict


def _search_split(run, config):
    """(data, name): the validation split, the held-out test split staying the gate; the test split
    where there is no validation split."""
    from asl_edge.data.runs import run_dataset

    if config.data is None:
        parts = {part: lambda part=part: run_dataset(run, part=part) for part in ("val", "test")}
    else:
        from asl_edge.data import load_dataset
        from asl_edge.data.split import split_dataset

        ds = load_dataset(config.data, run.preprocessing)
        split = split_dataset(ds.labels, ds.groups, seed=config.seed)
        parts = {"val": lambda: ds.subset(split.val), "test": lambda: ds.subset(split.test)}
    val = parts["val"]()
    if len(val):
        return val, "validation"
    log.warning("no validation split: the mixed int8 search runs on the test split that also gates it")
    return parts["test"](), "test"


def _tflite_mixed(mixed: TFLiteMixed, float_model, samples, ranked, x_val, y_val, float_acc, max_drop):
    """(search result, (bytes, manifest fields) or ``None`` when the search missed)."""
    result = search_mixed(ranked, tflite_accuracy_of(mixed, x_val, y_val), float_acc, max_drop)
    if not result.met:
        return result, None
    content = mixed.convert(result.float_layers)
    info = {"full_int8": _candidate_figures(mixed.convert(()), ".tflite", x_val, y_val, x_val),
            "mixed": _candidate_figures(content, ".tflite", x_val, y_val, x_val)}
    return result, (content, info)


def _onnx_mixed(mixed: TFLiteMixed, float_model, samples, ranked, x_val, y_val, float_acc, max_drop):
    """As :func:`_tflite_mixed`, through ONNX Runtime's quantiser with ``nodes_to_exclude``."""
    from asl_edge.export.onnx import prepare, quantize_int8

    names = keras_layers(float_model)
    with tempfile.TemporaryDirectory() as tmp:
        prepared, best = Path(tmp) / "prepared.onnx", Path(tmp) / "best.onnx"
        prepare(float_model, prepared)
        result = search_mixed(ranked, onnx_accuracy_of(prepared, samples, x_val, y_val, names), float_acc, max_drop)
        if not result.met:
            return result, None
        nodes = onnx_nodes(prepared, result.float_layers, names)
        quantize_int8(prepared, best, samples, nodes)
        content = best.read_bytes()
        quantize_int8(prepared, best, samples)
        info = {"onnx_nodes_excluded": nodes,
                "full_int8": _candidate_figures(best.read_bytes(), ".onnx", x_val, y_val, x_val),
                "mixed": _candidate_figures(content, ".onnx", x_val, y_val, x_val)}
    return result, (content, info)


def gate_failed(failed: Sequence[dict], family: str, max_drop: float) -> bool:
    """Whether the family's full int8 artifact converted but lost more than ``max_drop`` points."""
    return any(e.get("family") == family and e.get("precision") == "int8"
               and e.get("accuracy_drop_pp", -np.inf) > max_drop for e in failed)


def _candidate_figures(content: bytes, suffix: str, x, y, x_lat) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"candidate{suffix}"
        path.write_bytes(content)
        return {"size_bytes": len(content), "validation_accuracy": accuracy(path, x, y),
                "latency_ms_1thread": round(latency_ms(path, x_lat), 4)}


def layer_report_and_mixed(run, config, int8_model, float_model, samples: np.ndarray, failed: Sequence[dict],
                           folder: Path) -> tuple[dict, list[MixedArtifact]]:
    """Writes the layer report when asked or needed, and searches mixed int8 where full int8 failed the gate.

    Args:
        run: the run being exported.
        config: the export configuration (``layer_report``, ``max_drop``, ``families``, ``data``, ``seed``).
        int8_model: the Keras model the TFLite int8 artifact comes from (QAT or not).
        float_model: the Keras model the ONNX artifacts come from.
        samples: calibration images.
        failed: the pipeline's failed entries so far (full int8 gate failures trigger the search).
        folder: the export folder being written (the report files go there).

    Returns:
        (manifest fields under ``layer_report``, mixed artifacts to write and verify).
    """
    from asl_edge.runtime.formats import get_format

    search = {fam: fam in config.families and gate_failed(failed, fam, config.max_drop) for fam in ("tflite", "onnx")}
    if not (config.layer_report or any(search.values())):
        return {}, []
    source = "int8 model"
    try:
        mixed = TFLiteMixed(int8_model, samples)
    except ExportError as exc:
        if int8_model is float_model:
            log.warning("no layer report: %s", exc)
            return {"status": f"failed: {exc}"}, []
        # A QAT model carries its own fake-quant ranges and the debugger builds no debug model from
        # it ("Please check if the quantized model is in debug mode"): report and search post-training
        # quantisation of the float model instead, and say so.
        log.warning("the QAT model cannot be debugged (%s); the layer report uses the float model", exc)
        mixed, source = TFLiteMixed(float_model, samples), "float model, post-training quantisation (QAT model: " \
                                                           "no debug model)"
    rows = mixed.report()
    write_report(rows, folder, run.name, len(samples))
    fields = {"csv": REPORT_CSV, "json": REPORT_JSON, "worst": [r.layer for r in rows[:3]], "source": source}
    log.info("layer report: worst int8 layers %s", ", ".join(fields["worst"]))
    if not any(search.values()):
        return fields, []
    val, split_name = _search_split(run, config)
    x_val, y_val = val.preprocessing.normalize(val.load_images()), val.labels
    float_acc = float((float_model.predict(x_val, batch_size=256, verbose=0).argmax(1) == y_val).mean())
    ranked = [r.layer for r in rows]
    out = []
    for family, find in (("tflite", _tflite_mixed), ("onnx", _onnx_mixed)):
        if not search[family]:
            continue
        result, found = find(mixed, float_model, samples, ranked, x_val, y_val, float_acc, config.max_drop)
        if found is None:  # no prefix met the drop on validation: nothing to write, the search is on record
            fields.setdefault("mixed_not_found", {})[family] = summary(result, rows, split_name)
            continue
        content, info = found
        info = {**summary(result, rows, split_name), **info}
        out.append(MixedArtifact(get_format(f"{family}_int8_mixed"), content, info))
    write_report(rows, folder, run.name, len(samples),
                 [{"format": m.format.name, **{k: m.info[k] for k in ("float_layers", "full_int8", "mixed")}}
                  for m in out])
    return fields, out


def mark_replaced(failed: Sequence[dict], artifacts: Sequence[dict]) -> None:
    """Marks each failed full int8 entry whose family now has a verified mixed artifact (``replaced_by``)."""
    for entry in failed:
        if entry.get("precision") != "int8":
            continue
        mixed = [a["path"] for a in artifacts if a["precision"] == "int8_mixed" and a["family"] == entry["family"]]
        if mixed:
            entry["replaced_by"] = mixed[0]
