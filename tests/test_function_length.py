"""Functions in asl_edge/ stay readable: at most 60 lines, longer work split into named steps.

The few functions still longer are listed with their length; the list only shrinks: a new long
function fails, and so does a listed one that got split (take it off the list)."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "asl_edge"
MOST = 60
# Still to be split into steps: "path:function" -> lines when listed.
LONGER = {
}


def long_functions() -> dict[str, int]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MOST:
                    found[f"{path.relative_to(PACKAGE).as_posix()}:{node.name}"] = lines
    return found


def test_no_new_function_over_60_lines():
    new = {name: n for name, n in long_functions().items() if name not in LONGER}
    assert not new, f"split these into named steps (at most {MOST} lines each): {new}"


def test_listed_long_functions_only_get_shorter():
    found = long_functions()
    grown = {name: found[name] for name in LONGER if name in found and found[name] > LONGER[name]}
    assert not grown, f"these long functions grew: {grown}"
    done = sorted(name for name in LONGER if name not in found)
    assert not done, f"now at most {MOST} lines: take them off LONGER: {done}"
