"""The mutation score (benchmarks/mutation.py's JSON) in the report: read, checked, shown with its figures."""

import json
from pathlib import Path

import pytest

from asl_edge.report import load_inputs, render
from asl_edge.runtime.errors import DataError

RESULTS = Path(__file__).parent / "fixtures" / "bench_results.json"


def mutation_doc(**changes) -> dict:
    doc = {"kind": "mutation-testing", "tool": "mutmut 3.8.1", "command": "python benchmarks/mutation.py",
           "definition": "killed / (killed + survived)", "killed": 90, "survived": 10, "equivalent": 1,
           "score": 0.9,
           "modules": {"balance": {"module": "asl_edge/data/balance.py", "tests": "tests/x.py", "mutants": 53,
                                   "killed": 50, "survived": 2, "equivalent": 1, "score": 0.9615},
                       "metrics": {"module": "asl_edge/runtime/metrics.py", "tests": "tests/y.py", "mutants": 48,
                                   "killed": 40, "survived": 8, "equivalent": 0, "score": 0.8333}}}
    doc.update(changes)
    return doc


def test_the_report_shows_the_mutation_score_per_module(tmp_path):
    path = tmp_path / "mutation.json"
    path.write_text(json.dumps(mutation_doc()))
    results, sides = load_inputs([RESULTS, path])
    md, _ = render(results, tmp_path / "report", sides)
    text = md.read_text()
    assert "## Test suite: mutation score 90.0%" in text
    assert "90 of 100 mutants killed (mutmut 3.8.1" in text
    assert "| asl_edge/data/balance.py | 53 | 50 | 2 | 1 | 96.2% |" in text
    assert "| asl_edge/runtime/metrics.py | 48 | 40 | 8 | 0 | 83.3% |" in text


@pytest.mark.parametrize("changes, field", [({"score": 1.5}, "score"), ({"killed": "many"}, "killed"),
                                            ({"modules": []}, "modules")])
def test_a_malformed_mutation_file_is_one_line_naming_the_field(tmp_path, changes, field):
    path = tmp_path / "mutation.json"
    path.write_text(json.dumps(mutation_doc(**changes)))
    with pytest.raises(DataError, match=rf"mutation.json: {field}"):
        load_inputs([RESULTS, path])


def _module(killed: int, survivors: list[dict]) -> dict:
    return {"killed": killed, "survived": sum("equivalent" not in s for s in survivors), "survivors": survivors}


def test_the_ci_gate_fails_below_the_score_and_names_each_real_survivor(capsys):
    from conftest import load_script

    gate = load_script("benchmarks/mutation.py")._gate
    equivalent = {"mutant": "m.x_f__mutmut_1", "diff": "-a\n+b", "equivalent": "why"}
    survivor = {"mutant": "m.x_g__mutmut_2", "diff": "-x < 1\n+x <= 1"}
    assert gate([_module(9, [equivalent])], 1.0) == 0  # an equivalent mutant is no survivor
    assert gate([_module(9, [survivor])], None) == 0  # no gate asked for
    assert gate([_module(9, [survivor])], 0.9) == 0  # 9 of 10: at the gate
    assert capsys.readouterr().err == ""
    assert gate([_module(8, [survivor]), _module(0, [equivalent])], 0.9) == 1  # 8 of 9
    err = capsys.readouterr().err
    assert "survived: m.x_g__mutmut_2\n-x < 1\n+x <= 1" in err and "m.x_f__mutmut_1" not in err
    assert err.splitlines()[-1] == "mutation: error: score 0.8889 is below 0.9 (1 surviving mutants)"
