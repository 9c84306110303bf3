"""The package's shape: layers import only downward, and the device path never imports TensorFlow."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "asl_edge"
REPO = PACKAGE.parent
# Layer of each subpackage (root modules named explicitly); a module may import its own layer and below.
LAYERS = {"runtime": 0, "data": 1, "models": 1, "keras_compat": 1, "training": 2, "export": 2, "bench": 3,
          "report": 3, "recipes": 0, "cli": 4, "api": 4, "__init__": 4, "__main__": 4}
HEAVY = ("tensorflow", "tf_keras", "tensorflow_model_optimization", "keras")
INT8 = REPO / "export" / "asl-digits-fast" / "asl-digits-fast_int8.tflite"


def _layer_of(module: str) -> int:
    parts = module.split(".")
    return LAYERS[parts[1]] if len(parts) > 1 else LAYERS["__init__"]


def _imports(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            out += [a.name for a in node.names]
    return [m for m in out if m.startswith("asl_edge.") and m.split(".")[1] in LAYERS]


MODULES = sorted(p for p in PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_only_downward(path):
    rel = path.relative_to(PACKAGE)
    own = LAYERS[rel.parts[0].removesuffix(".py")]
    upward = [m for m in _imports(path) if _layer_of(m) > own]
    assert not upward, f"{rel} (layer {own}) imports a higher layer: {upward}"


def _module_name(path: Path) -> str:
    return ".".join(("asl_edge", *path.relative_to(PACKAGE).with_suffix("").parts))


def _module_graph() -> dict[str, set[str]]:
    """Each module's imports of other modules of the package, at any depth of the file (a deferred
    import inside a function ties two modules as much as one at the top); packages' own
    ``__init__`` files are left out (a package's face re-exports what lies below it)."""
    modules = {_module_name(p): p for p in MODULES if p.name != "__init__.py"}
    return {name: {m for m in _imports(path) if m in modules and m != name} for name, path in modules.items()}


def _reach(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), list(graph[start])
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo += graph[m]
    return seen


def test_no_modules_import_each_other_in_a_circle():
    graph = _module_graph()
    circles = sorted(m for m in graph if m in _reach(graph, m))
    assert not circles, f"modules in an import circle (each reaches itself): {circles}"


def test_the_circle_check_sees_a_deferred_import():
    graph = {"a": {"b"}, "b": set(), "c": {"d"}, "d": {"c"}}
    assert [m for m in graph if m in _reach(graph, m)] == ["c", "d"]
    assert "asl_edge.runtime.predict" in _module_graph()["asl_edge.runtime.stream"]  # a module-level import
    assert "asl_edge.runtime.liveview" in _module_graph()["asl_edge.runtime.stream"]  # one inside a function


def test_runtime_never_imports_tensorflow_directly():
    for path in (PACKAGE / "runtime").rglob("*.py"):
        names = {m.split(".")[0] for m in _imports(path)} | {
            n.names[0].name.split(".")[0] for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Import)}
        assert not names & set(HEAVY), f"{path.name} imports {names & set(HEAVY)}"


def _modules_after(code: str) -> set[str]:
    probe = code + "\nimport sys, json\nprint(json.dumps(sorted(m.split('.')[0] for m in sys.modules)))"
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    import json

    return set(json.loads(r.stdout.strip().splitlines()[-1]))


def test_importing_the_package_and_its_runtime_imports_no_tensorflow():
    runtime = sorted(p.stem for p in (PACKAGE / "runtime").glob("*.py") if p.stem != "__init__")
    loaded = _modules_after(
        "import asl_edge, asl_edge.cli\n" + "\n".join(f"import asl_edge.runtime.{m}" for m in runtime)
    )
    assert not loaded & set(HEAVY)


@pytest.mark.parametrize(
    "command",
    [
        ["predict", str(INT8), str(REPO / "tests")],  # a folder without images: still loads the model
        ["evaluate", str(INT8), "--json"],
        ["benchmark", str(INT8), "--runs", "5", "--rounds", "1", "--no-gpu"],
        ["info", str(INT8.parent)],
        ["predict", str(INT8.parent), str(REPO / "tests")],  # an export folder: its recommended artifact
    ],
    ids=["predict", "evaluate", "benchmark", "info", "predict-export-folder"],
)
def test_device_commands_on_a_tflite_import_no_tensorflow(command):
    code = (
        "import sys\nfrom asl_edge.cli import main\ntry:\n    main(" + repr(command) + ")\n"
        "except SystemExit:\n    pass\n"
    )
    loaded = _modules_after(code)
    if command[0] != "info":  # info reads the file and its manifest only
        assert "ai_edge_litert" in loaded  # the model really ran
    assert not loaded & set(HEAVY), loaded & set(HEAVY)
