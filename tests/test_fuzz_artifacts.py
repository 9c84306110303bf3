"""Mutated .tflite and .onnx files end in one clear error or a prediction, never a signal.

One child process (memory capped with ``RLIMIT_AS``) loads and runs every mutant through
``load_predictor(..., verify=False)`` (a file copied alone, or ``--no-verify``), with the probe
child process switched off so that the in-process validation alone is tested, and reports each
outcome before the next; if it dies on a signal, the mutant that killed it is named and the rest
still run in a fresh child.
"""

import json
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

MEMORY_LIMIT = 3 << 30
CHILD = textwrap.dedent("""
    import json, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (CAP_BYTES, CAP_BYTES))
    import numpy as np
    from asl_edge.runtime.errors import AslEdgeError
    from asl_edge.runtime import runners
    from asl_edge.runtime.predict import load_predictor
    runners.probe = lambda *args: None  # the in-process checks alone must hold; the probe is a second net
    paths = json.loads(open(sys.argv[1]).read())[int(sys.argv[2]):]
    image = np.full((1, 16, 16, 3), 120, np.uint8)
    for path in paths:
        print("START", path, flush=True)
        try:
            top = load_predictor(path, verify=False).top_k(image, 3)[0]
            ok = all(0.0 <= p <= 1.0 + 1e-5 for _, p in top)
            print("OK" if ok else "BADPROB", path, flush=True)
        except AslEdgeError as exc:
            msg = str(exc)
            print("ERR" if "\\n" not in msg and msg else "BADMSG", path, flush=True)
        except Exception as exc:
            print("UNEXPECTED", path, type(exc).__name__, str(exc)[:100].replace("\\n", " "), flush=True)
""").replace("CAP_BYTES", str(MEMORY_LIMIT))


def _mutants(src: Path, out: Path, n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    buf = src.read_bytes()
    paths = []
    for i in range(n):
        b = bytearray(buf)
        r = rng.random()
        if r < 0.7:  # flipped bytes
            for _ in range(rng.choice([1, 1, 2, 3, 8])):
                b[rng.randrange(len(b))] = rng.randrange(256)
        elif r < 0.85:  # a 32-bit field set to an extreme value
            pos = rng.randrange(len(b) - 4) & ~3
            b[pos:pos + 4] = rng.choice([0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 30000, 0]).to_bytes(4, "little")
        else:  # truncated
            b = b[:rng.randrange(8, len(b))]
        path = out / f"m{i:03d}{src.suffix}"
        path.write_bytes(bytes(b))
        paths.append(str(path))
    return paths


def _run_all(paths: list[str], tmp: Path) -> dict:
    listing = tmp / "paths.json"
    listing.write_text(json.dumps(paths))
    outcome, start = {}, 0
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    while start < len(paths):
        proc = subprocess.run([sys.executable, "-c", CHILD, str(listing), str(start)], capture_output=True,
                              text=True, timeout=120, env=env)
        current = None
        for line in proc.stdout.splitlines():
            kind, path, *rest = line.split(" ", 2)
            if kind == "START":
                current = path
            else:
                outcome[path] = (kind, rest[0] if rest else "")
                current = None
        if current is None:
            assert proc.returncode == 0, proc.stderr[-2000:]
            break
        outcome[current] = (f"SIGNAL {proc.returncode}", proc.stderr.strip()[-300:])
        start = paths.index(current) + 1
    return outcome


@pytest.mark.parametrize("artifact,n,seed", [("tiny_int8.tflite", 120, 1), ("tiny_fp32.tflite", 60, 2),
                                             ("tiny_fp32.onnx", 60, 3), ("tiny_int8.onnx", 40, 4)])
def test_mutated_artifacts_fail_cleanly(tiny_export, tmp_path, artifact, n, seed):
    paths = _mutants(tiny_export / artifact, tmp_path, n, seed)
    outcome = _run_all(paths, tmp_path)
    bad = {Path(p).name: o for p, o in outcome.items() if o[0] not in ("OK", "ERR")}
    assert not bad, bad
    assert len(outcome) == n
    kinds = [o[0] for o in outcome.values()]
    assert kinds.count("ERR") > n // 4  # most mutants are caught


# -- operators whose options or constant inputs size an output ------------------------------------
# Each case is a one-operator model built here in a valid form, which LiteRT / ONNX Runtime must
# run, and a damaged form, which validation must refuse before the runtime sees a byte of it.
def _tflite_one_op(op, inputs, consts, out_shape, options=None):
    """A .tflite of one builtin operator: float32 inputs, constant inputs (numpy), one float32 output."""
    import flatbuffers
    import numpy as np
    from ai_edge_litert import schema_py_generated as s

    model = s.ModelT()
    model.version = 3
    code = s.OperatorCodeT()
    code.builtinCode = getattr(s.BuiltinOperator, op)
    code.deprecatedBuiltinCode = min(code.builtinCode, 127)
    code.version = 1
    model.operatorCodes, model.buffers, tensors = [code], [s.BufferT()], []

    def tensor(shape, ttype, data=None):
        t = s.TensorT()
        t.shape, t.type, t.name, t.buffer = list(shape), ttype, f"t{len(tensors)}".encode(), 0
        if data is not None:
            b = s.BufferT()
            b.data = np.frombuffer(data.tobytes(), np.uint8)
            model.buffers.append(b)
            t.buffer = len(model.buffers) - 1
        tensors.append(t)
        return len(tensors) - 1

    ins = [tensor(shape, 0) for shape in inputs]
    const = [tensor(v.shape, 2, np.asarray(v, np.int32)) for v in consts]
    out = tensor(out_shape, 0)
    o = s.OperatorT()
    o.opcodeIndex, o.inputs, o.outputs = 0, ins + const, [out]
    if options is not None:
        o.builtinOptionsType = getattr(s.BuiltinOptions, type(options).__name__[:-1])
        o.builtinOptions = options
    g = s.SubGraphT()
    g.tensors, g.inputs, g.outputs, g.operators = tensors, ins, [out], [o]
    model.subgraphs = [g]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _opts(name, **fields):
    from ai_edge_litert import schema_py_generated as s

    table = getattr(s, name)()
    for k, v in fields.items():
        setattr(table, k, v)
    return table


def _arr(*values):
    import numpy as np

    return np.array(values, np.int32)


TFLITE_OPS = {  # name: (valid model, damaged model, what the refusal says)
    "reshape": (lambda: _tflite_one_op("RESHAPE", [[1, 2, 3, 4]], [_arr(1, 24)], [1, 24]),
                lambda: _tflite_one_op("RESHAPE", [[1, 2, 3, 4]], [_arr(1 << 20, 1 << 20)], [1, 24]), "too large"),
    "reshape_option": (lambda: _tflite_one_op("RESHAPE", [[1, 2, 3, 4]], [], [1, 24],
                                              _opts("ReshapeOptionsT", newShape=[1, 24])),
                       lambda: _tflite_one_op("RESHAPE", [[1, 2, 3, 4]], [], [1, 24],
                                              _opts("ReshapeOptionsT", newShape=[-1, -1])), "impossible new shape"),
    "pad": (lambda: _tflite_one_op("PAD", [[1, 4, 4, 1]], [_arr([0, 0], [1, 1], [1, 1], [0, 0])], [1, 6, 6, 1]),
            lambda: _tflite_one_op("PAD", [[1, 4, 4, 1]], [_arr([0, 0], [1 << 30, 1], [1, 1], [0, 0])], [1, 6, 6, 1]),
            "too large"),
    "pad_negative": (lambda: _tflite_one_op("PAD", [[1, 4]], [_arr([0, 0], [1, 1])], [1, 6]),
                     lambda: _tflite_one_op("PAD", [[1, 4]], [_arr([0, 0], [-3, 1])], [1, 6]), "paddings"),
    "concatenation": (lambda: _tflite_one_op("CONCATENATION", [[1, 2], [1, 3]], [], [1, 5],
                                             _opts("ConcatenationOptionsT", axis=1)),
                      lambda: _tflite_one_op("CONCATENATION", [[1, 2], [1, 3]], [], [1, 5],
                                             _opts("ConcatenationOptionsT", axis=5)), "axis 5"),
    "strided_slice": (lambda: _tflite_one_op("STRIDED_SLICE", [[1, 4]], [_arr(0, 0), _arr(1, 2), _arr(1, 1)], [1, 2],
                                             _opts("StridedSliceOptionsT")),
                      lambda: _tflite_one_op("STRIDED_SLICE", [[1, 4]], [_arr(0, 0), _arr(1, 2), _arr(1, 0)], [1, 2],
                                             _opts("StridedSliceOptionsT")), "stride of 0"),
    "squeeze": (lambda: _tflite_one_op("SQUEEZE", [[1, 4, 1]], [], [4], _opts("SqueezeOptionsT", squeezeDims=[0, 2])),
                lambda: _tflite_one_op("SQUEEZE", [[1, 4, 1]], [], [4], _opts("SqueezeOptionsT", squeezeDims=[9])),
                "squeeze dimension 9"),
    "resize": (lambda: _tflite_one_op("RESIZE_BILINEAR", [[1, 4, 4, 1]], [_arr(8, 8)], [1, 8, 8, 1],
                                      _opts("ResizeBilinearOptionsT")),
               lambda: _tflite_one_op("RESIZE_BILINEAR", [[1, 4, 4, 1]], [_arr(1 << 15, 1 << 15)], [1, 8, 8, 1],
                                      _opts("ResizeBilinearOptionsT")), "too large"),
    "transpose": (lambda: _tflite_one_op("TRANSPOSE", [[1, 2, 3]], [_arr(0, 2, 1)], [1, 3, 2]),
                  lambda: _tflite_one_op("TRANSPOSE", [[1, 2, 3]], [_arr(0, 7, 1)], [1, 3, 2]), "permutation"),
    "mean": (lambda: _tflite_one_op("MEAN", [[1, 4, 4, 2]], [_arr(1, 2)], [1, 2], _opts("ReducerOptionsT")),
             lambda: _tflite_one_op("MEAN", [[1, 4, 4, 2]], [_arr(1, 7)], [1, 2], _opts("ReducerOptionsT")),
             "axis 7"),
    "tile": (lambda: _tflite_one_op("TILE", [[1, 2]], [_arr(2, 3)], [2, 6]),
             lambda: _tflite_one_op("TILE", [[1, 2]], [_arr(1 << 16, 1 << 16)], [2, 6]), "too large"),
    "softmax_beta": (lambda: _tflite_one_op("SOFTMAX", [[1, 4]], [], [1, 4], _opts("SoftmaxOptionsT", beta=1.0)),
                     lambda: _tflite_one_op("SOFTMAX", [[1, 4]], [], [1, 4],
                                            _opts("SoftmaxOptionsT", beta=float("nan"))), "Beta nan"),
    "activation_enum": (lambda: _tflite_one_op("ADD", [[1, 4], [1, 4]], [], [1, 4],
                                               _opts("AddOptionsT", fusedActivationFunction=1)),
                        lambda: _tflite_one_op("ADD", [[1, 4], [1, 4]], [], [1, 4],
                                               _opts("AddOptionsT", fusedActivationFunction=42)),
                        "FusedActivationFunction 42"),
}


@pytest.mark.parametrize("case", sorted(TFLITE_OPS))
def test_tflite_operator_bounds(case):
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    from asl_edge.runtime.errors import ModelError
    from asl_edge.runtime.validate import validate_tflite

    valid, damaged, message = TFLITE_OPS[case]
    buf = valid()
    validate_tflite(buf, "ok.tflite")
    it = Interpreter(model_content=buf)  # the valid form is a model LiteRT runs
    it.allocate_tensors()
    for d in it.get_input_details():
        it.set_tensor(d["index"], np.ones(d["shape"], np.float32))
    it.invoke()
    with pytest.raises(ModelError, match=message) as err:
        validate_tflite(damaged(), "bad.tflite")
    assert str(err.value).startswith("bad.tflite is not a valid .tflite file (operator 0 ")
    assert "\n" not in str(err.value)


def _onnx_model(node, inputs, outputs, initializers=()):
    from onnx import TensorProto, helper

    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs],
                              list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8).SerializeToString()


def _conv(**attrs):
    import numpy as np
    from onnx import helper, numpy_helper

    w = numpy_helper.from_array(np.ones((1, 1, 3, 3), np.float32), "w")
    node = helper.make_node("Conv", ["x", "w"], ["y"], **{"kernel_shape": [3, 3], "strides": [1, 1], **attrs})
    return _onnx_model(node, [("x", [1, 1, 6, 6])], [("y", list("nchw"))], [w])


def _reshape(shape):
    import numpy as np
    from onnx import helper, numpy_helper

    node = helper.make_node("Reshape", ["x", "s"], ["y"])
    return _onnx_model(node, [("x", [1, 2, 3, 4])], [("y", ["a", "b"])],
                       [numpy_helper.from_array(np.array(shape, np.int64), "s")])


def _node(op, **attrs):
    from onnx import helper

    return _onnx_model(helper.make_node(op, ["x"], ["y"], **attrs), [("x", [1, 2, 3])], [("y", ["a", "b", "c"])])


def _constant_of_shape(shape):
    import numpy as np
    from onnx import helper, numpy_helper

    const = helper.make_node("Constant", [], ["s"], value=numpy_helper.from_array(np.array(shape, np.int64)))
    fill = helper.make_node("ConstantOfShape", ["s"], ["c"])
    add = helper.make_node("Add", ["x", "c"], ["y"])
    from onnx import TensorProto

    graph = helper.make_graph([const, fill, add], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["a", "b"])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8).SerializeToString()


ONNX_OPS = {
    "conv_strides": (lambda: _conv(), lambda: _conv(strides=[0, 1]), "strides"),
    "conv_dilations": (lambda: _conv(dilations=[1, 1]), lambda: _conv(dilations=[1, 1 << 20]), "dilations"),
    "conv_pads": (lambda: _conv(pads=[1, 1, 1, 1]), lambda: _conv(pads=[1, 1, -4, 1]), "pads"),
    "conv_group": (lambda: _conv(group=1), lambda: _conv(group=0), "group 0"),
    "transpose": (lambda: _node("Transpose", perm=[0, 2, 1]), lambda: _node("Transpose", perm=[0, 0, 1]),
                  "permutation"),
    "softmax_axis": (lambda: _node("Softmax", axis=-1), lambda: _node("Softmax", axis=99), "axis 99"),
    "leaky_alpha": (lambda: _node("LeakyRelu", alpha=0.1), lambda: _node("LeakyRelu", alpha=float("inf")),
                    "alpha inf"),
    "reshape_huge": (lambda: _reshape([1, 24]), lambda: _reshape([1 << 20, 1 << 20]), "too large"),
    "reshape_two_unknown": (lambda: _reshape([-1, 24]), lambda: _reshape([-1, -1]), "impossible shape"),
    "constant_of_shape": (lambda: _constant_of_shape([2, 3]), lambda: _constant_of_shape([1 << 30, 3]), "too large"),
}


@pytest.mark.parametrize("with_onnx", [True, False], ids=["onnx-installed", "runtime-only"])
@pytest.mark.parametrize("case", sorted(ONNX_OPS))
def test_onnx_node_attribute_bounds(case, with_onnx, monkeypatch):
    import numpy as np
    import onnxruntime as ort

    from asl_edge.runtime.errors import ModelError
    from asl_edge.runtime.validate import validate_onnx

    valid, damaged, message = ONNX_OPS[case]
    good, bad = valid(), damaged()
    if not with_onnx:  # the runtime-only install (a Pi) has no onnx package: the checks must not need it
        monkeypatch.setitem(sys.modules, "onnx", None)
    validate_onnx(good, "ok.onnx")
    session = ort.InferenceSession(good, providers=["CPUExecutionProvider"])  # the valid form runs
    feeds = {i.name: np.ones([d if isinstance(d, int) else 1 for d in i.shape], np.float32)
             for i in session.get_inputs()}
    session.run(None, feeds)
    with pytest.raises(ModelError, match=message) as err:
        validate_onnx(bad, "bad.onnx")
    assert str(err.value).startswith("bad.onnx is not a valid .onnx file (node ") and "\n" not in str(err.value)


def _set_conv_padding(model, s):
    _first(model, s, "CONV_2D").builtinOptions.padding = 7


def _set_conv_activation(model, s):
    _first(model, s, "CONV_2D").builtinOptions.fusedActivationFunction = 9


def _set_fc_weights_format(model, s):
    _first(model, s, "FULLY_CONNECTED").builtinOptions.weightsFormat = 5


def _set_mean_axis(model, s):
    import numpy as np

    axes = model.subgraphs[0].tensors[_first(model, s, "MEAN").inputs[1]]
    model.buffers[axes.buffer].data = np.frombuffer(np.array([1, 6], np.int32).tobytes(), np.uint8)


def _set_softmax_beta(model, s):
    _first(model, s, "SOFTMAX").builtinOptions.beta = float("inf")


def _first(model, s, name):
    code = getattr(s.BuiltinOperator, name)
    return next(op for op in model.subgraphs[0].operators
                if max(model.operatorCodes[op.opcodeIndex].builtinCode,
                       model.operatorCodes[op.opcodeIndex].deprecatedBuiltinCode) == code)


@pytest.mark.parametrize("artifact", ["tiny_fp32.tflite", "tiny_int8.tflite"])
@pytest.mark.parametrize("damage, message", [(_set_conv_padding, "Padding 7"),
                                             (_set_conv_activation, "FusedActivationFunction 9"),
                                             (_set_fc_weights_format, "WeightsFormat 5"),
                                             (_set_mean_axis, "axis 6"),
                                             (_set_softmax_beta, "Beta inf")])
def test_damaged_options_of_a_real_export_are_refused_before_litert(tiny_export, tmp_path, artifact, damage, message):
    """The option fields of the operators asl-edge's own models use, as a flipped byte would set them."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    from asl_edge.runtime.errors import ModelError
    from asl_edge.runtime.predict import load_predictor

    model = s.ModelT.InitFromPackedBuf(bytearray((tiny_export / artifact).read_bytes()), 0)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    (tmp_path / "same.tflite").write_bytes(bytes(builder.Output()))
    assert load_predictor(tmp_path / "same.tflite", verify=False).labels  # repacked unchanged: still a model
    damage(model, s)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    (tmp_path / "bad.tflite").write_bytes(bytes(builder.Output()))
    with pytest.raises(ModelError, match=message):
        load_predictor(tmp_path / "bad.tflite", verify=False)
