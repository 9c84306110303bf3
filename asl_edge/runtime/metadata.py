"""Labels and preprocessing embedded inside every artifact, so one file describes itself.

- ONNX: ``metadata_props`` entries (``asl_edge.labels``, ``asl_edge.preprocessing``, ...).
- TFLite: entries of the model flatbuffer's ``metadata`` list (name -> buffer), written and read
  with the TFLite schema bindings that ship inside ``ai_edge_litert``. The tflite-support
  metadata writers are unmaintained and do not install beside TensorFlow 2.21, and LiteRT ignores
  metadata entries it does not know, so plain named entries are the portable choice.

Reading needs no TensorFlow: it works in the runtime-only (``pi``) install.
"""

from __future__ import annotations

import json
from pathlib import Path

from asl_edge import __version__
from asl_edge.runtime.errors import DataError, ModelError
from asl_edge.runtime.fsutil import atomic_write, printable

PREFIX = "asl_edge."
KEYS = ("labels", "preprocessing")


def _encode(labels, preprocessing: dict, extra: dict | None, io_names: tuple[str | None, str | None] = (None, None)
            ) -> dict[str, str]:
    from asl_edge.runtime.preprocess import Preprocessing

    try:
        recipe = {"input": Preprocessing.from_dict(preprocessing).input_recipe(labels, *io_names)}
    except (DataError, ModelError):  # one asl-edge would refuse gets no derived recipe (tests craft such files)
        recipe = {}
    entries = {"labels": list(labels), "preprocessing": preprocessing, **recipe, "version": __version__,
               **(extra or {})}
    return {PREFIX + k: json.dumps(v) for k, v in entries.items()}


def _io_names(path: Path) -> tuple[str | None, str | None]:
    """The first input and output tensor names of an artifact (for the plain input recipe)."""
    if path.suffix == ".onnx":
        import onnx

        graph = onnx.load(str(path), load_external_data=False).graph
        return graph.input[0].name, graph.output[0].name
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(path.read_bytes(), 0)
    sub = model.Subgraphs(0)
    return sub.Tensors(sub.Inputs(0)).Name().decode(), sub.Tensors(sub.Outputs(0)).Name().decode()


def _decode(entries: dict[str, str], path: Path) -> dict:
    """Parses and checks the entries: bounded sizes, labels as printable names, a valid preprocessing."""
    from asl_edge.runtime.errors import DataError
    from asl_edge.runtime.preprocess import Preprocessing
    from asl_edge.runtime.validate import MAX_METADATA_ENTRY, check_labels

    shown = printable(path)
    out = {}
    for key, value in entries.items():
        # protobuf hands back bytes, not str, for a string field that is not UTF-8 (a damaged file)
        if isinstance(key, bytes):
            key = key.decode("utf-8", "replace")
        if not key.startswith(PREFIX):
            continue
        if not isinstance(value, str):
            raise ModelError(f"{shown}: metadata entry {printable(key)} is not UTF-8 text")
        if len(value) > MAX_METADATA_ENTRY:
            raise ModelError(f"{shown}: metadata entry {printable(key)} is too large")
        try:
            out[key[len(PREFIX):]] = json.loads(value)
        except RecursionError:
            raise ModelError(f"{shown}: metadata entry {printable(key)} is nested too deeply") from None
        except ValueError:
            raise ModelError(f"{shown}: metadata entry {printable(key)} is not JSON") from None
    missing = [k for k in KEYS if k not in out]
    if missing:
        raise ModelError(f"{shown} has no asl-edge metadata ({', '.join(missing)} missing): "
                         "export it with `asl-edge export` or run it through its run folder")
    out["labels"] = list(check_labels(out["labels"], path))
    if not isinstance(out["preprocessing"], dict):
        raise ModelError(f"{shown}: its preprocessing metadata is not an object")
    try:
        Preprocessing.from_dict(out["preprocessing"])
    except DataError as exc:
        raise ModelError(f"{shown}: invalid preprocessing metadata: {exc}") from None
    return out


def write_metadata(path: str | Path, labels, preprocessing: dict, extra: dict | None = None) -> None:
    """Embeds labels, preprocessing and ``extra`` into a ``.tflite`` or ``.onnx`` file, in place (atomically)."""
    path = Path(path)
    entries = _encode(labels, preprocessing, extra, _io_names(path))
    if path.suffix == ".onnx":
        import onnx

        model = onnx.load(str(path))
        keep = [p for p in model.metadata_props if p.key not in entries]
        del model.metadata_props[:]
        model.metadata_props.extend(keep)
        for key, value in entries.items():
            model.metadata_props.add(key=key, value=value)
        atomic_write(path, model.SerializeToString())
    elif path.suffix == ".tflite":
        atomic_write(path, _tflite_with_metadata(path.read_bytes(), entries))
    else:
        raise ModelError(f"cannot embed metadata in {path}: not a .tflite or .onnx file")


def _tflite_with_metadata(buf: bytes, entries: dict[str, str]) -> bytes:
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(buf, 0))
    model.metadata = [m for m in (model.metadata or []) if m.name.decode() not in entries]
    for key, value in entries.items():
        buffer = schema.BufferT()
        buffer.data = list(value.encode())
        model.buffers.append(buffer)
        meta = schema.MetadataT()
        meta.name = key
        meta.buffer = len(model.buffers) - 1
        model.metadata.append(meta)
    builder = flatbuffers.Builder(len(buf) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _tflite_entries(buf: bytes) -> dict[str, str]:
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(buf, 0)
    out = {}
    for i in range(model.MetadataLength()):
        meta = model.Metadata(i)
        name = meta.Name().decode()
        if name.startswith(PREFIX):
            data = model.Buffers(meta.Buffer()).DataAsNumpy()
            out[name] = b"" if isinstance(data, int) else data.tobytes().decode("utf-8")
    return out


def read_metadata(path: str | Path) -> dict:
    """Returns the embedded ``labels``, ``preprocessing`` and extras of a ``.tflite`` or ``.onnx`` file.

    Raises:
        ModelError: missing or unreadable file, or no asl-edge metadata inside.
    """
    from asl_edge.runtime.fsutil import read_regular
    from asl_edge.runtime.validate import MAX_ARTIFACT_BYTES, validate_onnx, validate_tflite

    path = Path(path)
    try:
        if path.suffix == ".onnx":
            buf = read_regular(path, ModelError, "artifact", MAX_ARTIFACT_BYTES)
            validate_onnx(buf, path)
            entries = _onnx_entries(buf)
        elif path.suffix == ".tflite":
            buf = read_regular(path, ModelError, "artifact", MAX_ARTIFACT_BYTES)
            validate_tflite(buf, path)
            entries = _tflite_entries(buf)
        else:
            raise ModelError(f"{path}: expected a .tflite or .onnx artifact")
    except ModelError:
        raise
    except Exception as exc:  # flatbuffer or protobuf parsers raise many types on damaged files
        raise ModelError(f"cannot read metadata of {path} (truncated or corrupt?): {type(exc).__name__}") from None
    return _decode(entries, path)


def _onnx_entries(buf: bytes) -> dict[str, str]:
    try:
        import onnx
    except ImportError:
        onnx = None
    if onnx is not None:
        model = onnx.load_from_string(buf)
        return {p.key: p.value for p in model.metadata_props}
    # Runtime-only install: onnxruntime reads the same properties.
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(buf, options, providers=["CPUExecutionProvider"])
    return dict(session.get_modelmeta().custom_metadata_map)
