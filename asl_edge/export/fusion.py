"""One artifact from two: a landmark model and a crop model fused into a single int8 TFLite.

The fused model reads one hand search's two views of the hand side by side in one float input row:
the crop's pixels as the crop model normalises them, then the landmark features
(:meth:`asl_edge.runtime.preprocess.Preprocessing.normalize` of a preprocessing with ``fusion``).
Inside the graph each part is sliced out, quantised with its own model's input scale and run
through that model's int8 operators, unchanged (every weight, every quantisation parameter, the
same kernels); the two outputs are dequantised and combined as
:func:`asl_edge.runtime.fusion.fuse` combines them, with the weight a constant of the graph:

- ``mean``: ``w * p_landmarks + (1 - w) * p_crop``;
- ``log``: ``softmax(w * log(max(p_landmarks, floor)) + (1 - w) * log(max(p_crop, floor)))``.

The row ends with a hand-found flag (``FusionSpec.hand_flag``) that multiplies ``w``: a single picture
without a hand found comes as the whole picture where the crop goes and a flag of 0, and the graph
then gives the crop model's own answer, as a crop model reads such a picture.

Built from the two exported ``.tflite`` files alone, by rewriting their flatbuffers (the schema
bindings of ``ai_edge_litert``): no TensorFlow, no retraining, no new calibration. ONNX is not
built: its runtime path would need the same two-part input, and LiteRT is the device runtime.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from asl_edge.runtime.errors import ModelError
from asl_edge.runtime.fusion import COMBINATIONS, LOG_FLOOR


@dataclass
class _Graph:
    """The fused model being written: the merged flatbuffer object and its one subgraph."""

    schema: object
    model: object
    graph: object

    @property
    def ops(self):
        """The schema's builtin operator codes (``g.ops.ADD``)."""
        return self.schema.BuiltinOperator

    def code(self, op: int, version: int = 1) -> int:
        """The index of builtin operator ``op``'s code, added once."""
        s = self.schema
        for i, c in enumerate(self.model.operatorCodes):
            if c.builtinCode == op and not c.customCode:
                c.version = max(c.version, version)
                return i
        code = s.OperatorCodeT()
        code.builtinCode, code.deprecatedBuiltinCode, code.version = op, min(op, 127), version
        self.model.operatorCodes.append(code)
        return len(self.model.operatorCodes) - 1

    def tensor(self, name: str, shape, dtype: int, data: np.ndarray | None = None, quant=None) -> int:
        """A new tensor (a constant when ``data`` is given); its index. Shapes use -1 for the batch."""
        s = self.schema
        t = s.TensorT()
        t.name, t.type = name, dtype
        t.shape = [1 if d == -1 else int(d) for d in shape]
        t.shapeSignature = [int(d) for d in shape] if -1 in shape else None
        buffer = s.BufferT()
        buffer.data = list(np.ascontiguousarray(data).tobytes()) if data is not None else None
        self.model.buffers.append(buffer)
        t.buffer = len(self.model.buffers) - 1
        t.quantization = quant
        self.graph.tensors.append(t)
        return len(self.graph.tensors) - 1

    def op(self, op: int, inputs: list[int], outputs: list[int], options=None, options_type: int = 0,
           version: int = 1) -> None:
        o = self.schema.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = self.code(op, version), list(inputs), list(outputs)
        o.builtinOptionsType, o.builtinOptions = options_type, options
        self.graph.operators.append(o)


def _parse(buf: bytes, what: str):
    from ai_edge_litert import schema_py_generated as schema

    from asl_edge.runtime.validate import validate_tflite

    validate_tflite(buf, what)
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(buf, 0))
    if len(model.subgraphs) != 1 or len(model.subgraphs[0].inputs) != 1 or len(model.subgraphs[0].outputs) != 1:
        raise ModelError(f"{what}: fusion needs a model of one subgraph with one input and one output")
    return model


def _append(g: _Graph, part, prefix: str) -> tuple[int, int]:
    """Copies ``part``'s buffers, tensors and operators into ``g``; its (input, output) tensor indices."""
    base_buffer, base_tensor = len(g.model.buffers), len(g.graph.tensors)
    g.model.buffers.extend(part.buffers)
    sub = part.subgraphs[0]
    for t in sub.tensors:
        t.buffer = t.buffer + base_buffer if t.buffer else 0  # buffer 0: the shared empty one
        t.name = (prefix + (t.name.decode() if isinstance(t.name, bytes) else t.name or "")).encode()
        g.graph.tensors.append(t)
    for o in sub.operators:
        code = part.operatorCodes[o.opcodeIndex]
        if code.customCode:
            raise ModelError(f"{prefix.rstrip('/')}: custom operators cannot be fused")
        o.opcodeIndex = g.code(max(code.builtinCode, code.deprecatedBuiltinCode), code.version)
        o.inputs = _shifted(o.inputs, base_tensor)
        o.outputs = _shifted(o.outputs, base_tensor)
        if o.intermediates is not None:
            o.intermediates = _shifted(o.intermediates, base_tensor)
        g.graph.operators.append(o)
    return sub.inputs[0] + base_tensor, sub.outputs[0] + base_tensor


def _shifted(indices, base: int) -> list[int]:
    """Tensor indices moved by ``base`` (-1, an absent optional input, stays)."""
    return [i + base if i >= 0 else i for i in indices]


def _slice(g: _Graph, source: int, begin: int, width: int, name: str) -> int:
    """Columns ``begin:begin + width`` of the float row ``source``."""
    i32 = g.schema.TensorType.INT32
    sliced = g.tensor(f"{name}/slice", (-1, width), g.schema.TensorType.FLOAT32)
    g.op(g.ops.SLICE, [source, g.tensor(f"{name}/begin", (2,), i32, np.array([0, begin], np.int32)),
                       g.tensor(f"{name}/size", (2,), i32, np.array([-1, width], np.int32))], [sliced], version=1)
    return sliced


def _feed(g: _Graph, source: int, begin: int, width: int, target: int, shape: tuple[int, ...], name: str) -> None:
    """``target`` (a part's input) from columns ``begin:begin + width`` of ``source``: slice, reshape,
    and quantise with the part's own input scale where the part takes integers."""
    s, B = g.schema, g.ops
    i32 = s.TensorType.INT32
    sliced = _slice(g, source, begin, width, name)
    shaped = sliced
    if len(shape) > 1:
        shaped = g.tensor(f"{name}/reshaped", (-1, *shape), s.TensorType.FLOAT32)
        opts = s.ReshapeOptionsT()
        opts.newShape = [-1, *shape]
        g.op(B.RESHAPE, [sliced, g.tensor(f"{name}/shape", (len(shape) + 1,), i32,
                                          np.array([-1, *shape], np.int32))], [shaped], opts,
             s.BuiltinOptions.ReshapeOptions)
    t = g.graph.tensors[target]
    if t.type == s.TensorType.FLOAT32:
        _rewire(g, shaped, target)
    else:
        g.op(B.QUANTIZE, [shaped], [target], s.QuantizeOptionsT(), s.BuiltinOptions.QuantizeOptions, version=2)


def _rewire(g: _Graph, new: int, old: int) -> None:
    """Every operator that read tensor ``old`` reads ``new`` instead."""
    for o in g.graph.operators:
        o.inputs = [new if i == old else i for i in o.inputs]


def _probabilities(g: _Graph, out: int, classes: int, name: str) -> int:
    """A part's output as float probabilities (dequantised where it is int8)."""
    s = g.schema
    if g.graph.tensors[out].type == s.TensorType.FLOAT32:
        return out
    p = g.tensor(f"{name}/probabilities", (-1, classes), s.TensorType.FLOAT32)
    g.op(g.ops.DEQUANTIZE, [out], [p], s.DequantizeOptionsT(), s.BuiltinOptions.DequantizeOptions, version=2)
    return p


def _shares(g: _Graph, source: int, parts: FusionParts, weight: float) -> tuple[int, int]:
    """The two models' shares as tensors: the constants ``w`` and ``1 - w``; with a hand flag (the row's
    last column), ``w * flag`` and ``1 - w * flag``, one per row, so a row without a hand reads the crop alone."""
    s, f32 = g.schema, g.schema.TensorType.FLOAT32
    w = g.tensor("fuse/weight", (1,), f32, np.array([weight], np.float32))
    if not parts.hand_flag:
        return w, g.tensor("fuse/crop_weight", (1,), f32, np.array([1.0 - weight], np.float32))
    flag = _slice(g, source, int(np.prod(parts.crop_shape)) + parts.features, 1, "fuse/hand_flag")
    lm_share, crop_share = g.tensor("fuse/landmark_share", (-1, 1), f32), g.tensor("fuse/crop_share", (-1, 1), f32)
    g.op(g.ops.MUL, [flag, w], [lm_share], s.MulOptionsT(), s.BuiltinOptions.MulOptions)
    g.op(g.ops.SUB, [g.tensor("fuse/one", (1,), f32, np.array([1.0], np.float32)), lm_share], [crop_share],
         s.SubOptionsT(), s.BuiltinOptions.SubOptions)
    return lm_share, crop_share


def _scaled(g: _Graph, x: int, factor: int, classes: int, name: str, log: bool) -> int:
    """``factor * x``, or ``factor * log(max(x, LOG_FLOOR))`` with ``log`` (``factor``: a tensor, broadcast)."""
    s, B, f32 = g.schema, g.ops, g.schema.TensorType.FLOAT32
    if log:
        floored = g.tensor(f"{name}/floored", (-1, classes), f32)
        g.op(B.MAXIMUM, [x, g.tensor(f"{name}/floor", (1,), f32, np.array([LOG_FLOOR], np.float32))], [floored],
             s.MaximumMinimumOptionsT(), s.BuiltinOptions.MaximumMinimumOptions)
        x = g.tensor(f"{name}/log", (-1, classes), f32)
        g.op(B.LOG, [floored], [x])
    y = g.tensor(f"{name}/weighted", (-1, classes), f32)
    opts = s.MulOptionsT()
    g.op(B.MUL, [x, factor], [y], opts, s.BuiltinOptions.MulOptions)
    return y


@dataclass(frozen=True)
class FusionParts:
    """The two models as the fused graph lays out its input: ``crop_shape`` ``(H, W, C)`` pixels
    first, then ``features`` landmark features, then the hand-found flag where ``hand_flag``;
    ``classes`` outputs each."""

    crop_shape: tuple[int, int, int]
    features: int
    classes: int
    hand_flag: bool = True


def fuse_tflite(landmark_buf: bytes, crop_buf: bytes, parts: FusionParts, weight: float,
                combination: str) -> bytes:
    """The fused flatbuffer of a landmark and a crop ``.tflite`` (see the module's notes).

    Raises:
        ModelError: a model that is not one plain subgraph of one input and output, or whose
            input and output shapes are not ``parts``'.
    """
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    if combination not in COMBINATIONS:
        raise ModelError(f"unknown fusion '{combination}'; choose one of: {', '.join(COMBINATIONS)}")
    model = schema.ModelT()
    model.version, model.operatorCodes, model.subgraphs = 3, [], [schema.SubGraphT()]
    model.buffers, model.description = [schema.BufferT()], b"asl-edge fusion of a landmark and a crop model"
    g = _Graph(schema, model, model.subgraphs[0])
    g.graph.tensors, g.graph.operators, g.graph.name = [], [], b"main"
    source, crop_out, lm_out = _merge(g, _parse(crop_buf, "the crop model"), _parse(landmark_buf, "the landmark model"),
                                      parts)
    log = combination == "log"
    lm_share, crop_share = _shares(g, source, parts, weight)
    p_lm = _scaled(g, _probabilities(g, lm_out, parts.classes, "landmarks/out"), lm_share, parts.classes,
                   "landmarks/fuse", log)
    p_crop = _scaled(g, _probabilities(g, crop_out, parts.classes, "crop/out"), crop_share, parts.classes,
                     "crop/fuse", log)
    f32 = schema.TensorType.FLOAT32
    out = g.tensor("fused/sum" if log else "probabilities", (-1, parts.classes), f32)
    g.op(g.ops.ADD, [p_lm, p_crop], [out], schema.AddOptionsT(), schema.BuiltinOptions.AddOptions)
    if log:  # softmax of the weighted log-probabilities: the renormalised weighted geometric mean
        total, out = out, g.tensor("probabilities", (-1, parts.classes), f32)
        opts = schema.SoftmaxOptionsT()
        opts.beta = 1.0
        g.op(g.ops.SOFTMAX, [total], [out], opts, schema.BuiltinOptions.SoftmaxOptions)
    g.graph.inputs, g.graph.outputs = [source], [out]
    builder = flatbuffers.Builder(len(crop_buf) + len(landmark_buf) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _merge(g: _Graph, crop, landmarks, parts: FusionParts) -> tuple[int, int, int]:
    """Both models' operators in ``g``, fed from one new input row; (input, crop output, landmark output)."""
    pixels = int(np.prod(parts.crop_shape))
    source = g.tensor("input", (-1, pixels + parts.features + int(parts.hand_flag)), g.schema.TensorType.FLOAT32)
    crop_in, crop_out = _append(g, crop, "crop/")
    lm_in, lm_out = _append(g, landmarks, "landmarks/")
    wanted = ((crop_in, (1, *parts.crop_shape), "crop input"), (lm_in, (1, parts.features), "landmark input"),
              (crop_out, (1, parts.classes), "crop output"), (lm_out, (1, parts.classes), "landmark output"))
    for t, want, what in wanted:
        if tuple(int(d) for d in g.graph.tensors[t].shape) != want:
            raise ModelError(f"the {what} has shape {tuple(int(d) for d in g.graph.tensors[t].shape)}, not {want}")
    first = len(g.graph.operators)
    _feed(g, source, 0, pixels, crop_in, parts.crop_shape, "crop/in")
    _feed(g, source, pixels, parts.features, lm_in, (parts.features,), "landmarks/in")
    # the operators run in their order in the list: the feeding ones go before the two models' own
    g.graph.operators[:] = g.graph.operators[first:] + g.graph.operators[:first]
    return source, crop_out, lm_out


# -- a fused export folder ---------------------------------------------------------------------------
# The fused artifact's outputs must equal the fusion of its two sources' outputs on every held-out
# image with a hand: the graph adds only float arithmetic after the two unchanged int8 models.
TOLERANCE = 1e-4


@dataclass(frozen=True)
class FuseConfig:
    """What ``asl-edge fuse`` builds: the two source artifacts, the combination and the landmark
    model's ``weight``; ``name``: the artifact's stem (default: the crop artifact's, ``-fusion`` added);
    ``localiser``: hand-search fields set over the crop artifact's (``asl-edge export --localiser``)."""

    landmarks: Path
    crop: Path
    weight: float
    combination: str = "log"
    name: str | None = None
    data: str | None = None
    localiser: dict = field(default_factory=dict)


def _sources(config: FuseConfig):
    """The two artifacts described and checked: a landmark model and a crop model with a hand
    localiser, both ``.tflite``, with the same labels and the same held-out split."""
    from asl_edge.runtime.describe import describe
    from asl_edge.runtime.errors import ExportError
    from asl_edge.runtime.integrity import check_artifact

    lm, crop = describe(config.landmarks), describe(config.crop)
    for d, what in ((lm, "landmark"), (crop, "crop")):
        if d.model_path.suffix != ".tflite":
            raise ExportError(f"{d.path}: fusion reads .tflite artifacts (the {what} model)")
        check_artifact(d.model_path)
    if lm.preprocessing.landmarks is None:
        raise ExportError(f"{config.landmarks} is not a landmark model (train it with --recipe landmarks)")
    if crop.preprocessing.localiser is None or crop.preprocessing.landmarks is not None or crop.preprocessing.fusion:
        raise ExportError(f"{config.crop} is not a crop model with a hand localiser (train it with --recipe camera)")
    if lm.labels != crop.labels:
        raise ExportError(f"the two models have different labels ({', '.join(lm.labels)} and {', '.join(crop.labels)})")
    split = lm.metadata.get("split")
    if split != crop.metadata.get("split"):
        raise ExportError("the two models were held out on different images: their fusion would have no held-out "
                          "score (train both on the same split)")
    return lm, crop, split


def fused_preprocessing(lm, crop, config: FuseConfig):
    """The fused artifact's preprocessing: the crop model's (its image fields and its hand
    localiser, which cuts the crop the way the crop model was trained on, with ``config.localiser``'s
    search fields over it) with the fusion recorded."""
    from dataclasses import replace

    from asl_edge.export.pipeline import search_settings
    from asl_edge.runtime.fusion import FusionSpec

    spec = FusionSpec(landmarks=dict(lm.preprocessing.landmarks), combination=config.combination,
                      weight=float(config.weight), hand_flag=True)
    localiser = search_settings(crop.preprocessing.localiser, config.localiser)
    return replace(crop.preprocessing, fusion=spec.to_dict(), localiser=localiser)


def _held_out_rows(pre, split: dict | None, data: str | None):
    """The held-out images as the fused model's rows (one hand search each) and which had a hand."""
    from asl_edge.data.identity import eval_data
    from asl_edge.runtime.fusion import fused_rows

    chosen = eval_data(pre.before_localisation(), split, data, stream=False)
    return (chosen, *fused_rows(pre, chosen.dataset.load_images()))


def check_fused(path: Path, pre, lm, crop, split: dict | None, data: str | None = None) -> dict:
    """The fused artifact against its two sources on the held-out images: the same hand search for
    all three, the sources' outputs fused in NumPy (:func:`asl_edge.runtime.fusion.fuse`) as the
    reference. A frame without a hand counts as wrong for every model."""
    from asl_edge.runtime.fusion import fuse
    from asl_edge.runtime.runners import load_runner

    chosen, rows, found = _held_out_rows(pre, split, data)
    x, labels, spec = pre.normalize(rows), chosen.dataset.labels, pre.fusion_spec
    if spec.hand_flag:  # every row once more with the flag at 0: the graph must then give the crop model's answer
        x = np.concatenate([x, np.concatenate([x[:, :-1], np.zeros_like(x[:, -1:])], axis=1)])
    pixels, features = int(np.prod(crop.preprocessing.input_shape)), lm.preprocessing.input_shape[0]
    probs = {"fused": load_runner(path, threads=1).predict(x),
             "landmarks": load_runner(lm.model_path, threads=1).predict(x[:, pixels:pixels + features]),
             "crop": load_runner(crop.model_path, threads=1).predict(
                 x[:, :pixels].reshape(-1, *crop.preprocessing.input_shape))}
    flag = x[:, -1:] if spec.hand_flag else np.ones((len(x), 1), np.float32)
    want = np.where(flag > 0.5, fuse(probs["landmarks"], probs["crop"], spec.weight, spec.combination),
                    fuse(probs["landmarks"], probs["crop"], 0.0, spec.combination))
    n = len(labels)
    readable = np.concatenate([found | pre.reads_whole_without_hand, np.ones(len(x) - n, bool)])  # rows compared
    diff = float(np.abs(probs["fused"] - want)[readable].max())
    agree = float((probs["fused"].argmax(1) == want.argmax(1))[readable].mean())
    acc = {k: float(((p[:n].argmax(1) == labels) & found).mean()) for k, p in {**probs, "reference": want}.items()}
    return {"data": chosen.description, "samples": int(n), "no_hand": int((~found).sum()),
            "accuracy": acc, "max_abs_diff": diff, "agreement": agree,
            "status": "ok" if diff <= TOLERANCE and agree == 1.0 else
            f"failed: differs from the fusion of its sources by {diff:.2g} (tolerance {TOLERANCE})"}


def _default_name(crop) -> str:
    stem = crop.model_path.stem
    for suffix in ("_int8", "_fp16", "_fp32", "_dynamic"):
        stem = stem.removesuffix(suffix)
    return f"{stem}-fusion"


def fuse_exports(config: FuseConfig, out: str | Path | None = None, force: bool = False) -> dict:
    """Builds, checks and writes the fused artifact of a landmark and a crop export: a folder with
    ``<name>_int8.tflite``, ``labels.txt`` and a ``manifest.json`` (the two sources with their
    sha256, the weight, the held-out check); returns the manifest.

    Raises:
        ExportError: sources that cannot be fused, an output folder that cannot be written, or a
            fused artifact that does not reproduce the fusion of its sources (nothing is written).
    """
    from asl_edge.export.pipeline import check_output_folder, manifest_listing
    from asl_edge.runtime import outfolder
    from asl_edge.runtime.errors import ExportError
    from asl_edge.runtime.formats import check_stem
    from asl_edge.runtime.fsutil import atomic_dir, atomic_write, output_lock, recover_dir, restore_dir

    lm, crop, split = _sources(config)
    pre = fused_preprocessing(lm, crop, config)
    name = check_stem(config.name or _default_name(crop))
    out = Path(out) if out else outfolder.default_out("export", name)
    target = Path(os.path.abspath(out))
    outfolder.refuse_root(target, out)
    owned = outfolder.owned_output(manifest_listing)
    parts = FusionParts(tuple(crop.preprocessing.input_shape), lm.preprocessing.input_shape[0], len(lm.labels),
                        pre.fusion_spec.hand_flag)
    buf = fuse_tflite(lm.model_path.read_bytes(), crop.model_path.read_bytes(), parts, pre.fusion_spec.weight,
                      pre.fusion_spec.combination)
    with output_lock(target):
        restore_dir(target, owned)
        found = check_output_folder(target, force, shown=out)
        recover_dir(target, owned)
        with atomic_dir(target, recheck=outfolder.swap_check(found, "export", out)) as tmp:
            dest = tmp / f"{name}_int8.tflite"
            atomic_write(dest, buf)
            _stamp(dest, name, pre, lm, crop, split)
            check = check_fused(dest, pre, lm, crop, split, config.data)
            if check["status"] != "ok":
                raise ExportError(f"{dest.name}: {check['status'].removeprefix('failed: ')}")
            manifest = _fusion_manifest(dest, name, pre, lm, crop, split, check)
            _write_fusion_manifest(tmp, list(lm.labels), manifest)
    manifest["out"] = str(out)
    return manifest


def _source(desc) -> dict:
    from asl_edge.runtime.fsutil import sha256_file

    return {"artifact": str(desc.model_path), "sha256": sha256_file(desc.model_path),
            "model": desc.metadata.get("model")}


def _stamp(dest: Path, name: str, pre, lm, crop, split) -> None:
    from asl_edge.runtime.metadata import write_metadata

    write_metadata(dest, list(lm.labels), pre.to_dict(), {"model": name, "input_name": "input", "split": split,
                                                           "fused_from": {"landmarks": _source(lm),
                                                                          "crop": _source(crop)}})


def _fusion_manifest(dest: Path, name: str, pre, lm, crop, split, check: dict) -> dict:
    """The manifest of a fused export, in the shape of every export's (what ``verify``, ``info``
    and ``benchmark`` read), with the two sources and the check against them."""
    import datetime as dt

    from asl_edge import __version__
    from asl_edge.runtime.fsutil import gzip_size, sha256_file

    acc = check["accuracy"]
    entry = {"path": dest.name, "format": "tflite_int8", "family": "tflite", "precision": "int8",
             "runtime": "litert", "input": {"shape": [None, *pre.input_shape], "dtype": "float32",
                                            "quantization": None},
             "accuracy": acc["fused"], "accuracy_drop_pp": round(100 * (acc["reference"] - acc["fused"]), 4),
             "agreement": check["agreement"], "max_abs_diff": check["max_abs_diff"], "tolerance": TOLERANCE,
             "status": "ok", "size_bytes": dest.stat().st_size, "size_gzip_bytes": gzip_size(dest),
             "sha256": sha256_file(dest)}
    return {"schema": 1, "name": name, "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "source": {"run": None, "accuracy": acc["reference"],
                       "fused_from": {"landmarks": {**_source(lm), "accuracy": acc["landmarks"]},
                                      "crop": {**_source(crop), "accuracy": acc["crop"]}}},
            "fusion": pre.fusion_spec.to_dict(), "float_accuracy": acc["reference"],
            "input_shape": list(pre.input_shape), "labels": list(lm.labels), "preprocessing": pre.to_dict(),
            "compression": {}, "evaluation": {"data": check["data"], "samples": check["samples"],
                                              "no_hand": check["no_hand"], "includes_training_images": False,
                                              "split": split, "agreement_with": "the fusion of the two source "
                                              "artifacts' outputs on the same hand search (NumPy)"},
            "config": {"fuse": True}, "versions": {"asl_edge": __version__}, "failed": [], "artifacts": [entry]}


def _write_fusion_manifest(folder: Path, labels: list[str], manifest: dict) -> None:
    from asl_edge.runtime import runfolder
    from asl_edge.runtime.fsutil import TMP_MARK, atomic_write, atomic_write_json, sha256_file
    from asl_edge.runtime.integrity import MANIFEST

    atomic_write(folder / runfolder.LABELS_FILE, "\n".join(labels) + "\n")
    listed = {a["path"] for a in manifest["artifacts"]} | {MANIFEST, TMP_MARK}
    manifest["files"] = {p.name: sha256_file(p) for p in sorted(folder.iterdir()) if p.name not in listed}
    atomic_write_json(folder / MANIFEST, manifest)
