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
