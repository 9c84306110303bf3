"""Every fenced block and every command of README.md, as a user would type it, checked.

README marks what CI cannot run with an HTML comment before the block, and a reason:

* ``<!-- readme-test: not-a-command (why) -->``: the block is a drawing, not code;
* ``<!-- readme-test: parse-only `PREFIX` [`CONTAINS`] (why) -->``: commands of the next block that
  start with PREFIX (and contain CONTAINS) are parsed, not run: ``asl-edge`` by its own click parser
  (a wrong flag fails), ``make`` by a dry run (``make -n``) whose asl-edge lines are parsed in turn,
  ``pip install`` by the extras it names (they must exist in setup.cfg);
* ``<!-- readme-test: not-run `PREFIX` (why) -->``: not run at all (the Pi's package manager, the network).

Every other command of a ``bash`` block runs, unchanged, in one shell in a scratch folder that holds
the clone's committed ``export/`` and ``benchmarks/`` and a few photographs; the ``python`` blocks run
too (the API block here, the metadata block in tests/test_readme.py). Inline commands of the prose and
tables are parsed; a synopsis (``asl-edge export RUN [--int8] ...``) must name only real flags.
"""

from __future__ import annotations

import configparser
import io
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()

FENCE = re.compile(r"((?:<!-- readme-test: [^\n]*? -->\n)*)```(\w*)\n(.*?)```", re.S)
MARK = re.compile(r"<!-- readme-test: (not-a-command|not-run|parse-only)((?: `[^`]+`)*) \((.+?)\) -->")
# A placeholder of a synopsis: RUN, MODEL, ARTIFACT_OR_DIR..., RESULTS.json..., N
PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_]*(\.json)?(\.\.\.)?$")
# The python blocks, by section, and the test that runs each.
PYTHON_BLOCKS = {"Artifact metadata": "tests/test_readme.py", "Python API": "tests/test_readme_commands.py"}


@dataclass(frozen=True)
class Mark:
    mode: str
    prefix: str
    contains: str
    reason: str

    def covers(self, command: str) -> bool:
        return command.startswith(self.prefix) and self.contains in command


@dataclass(frozen=True)
class Block:
    lang: str
    code: str
    section: str
    marks: tuple[Mark, ...]


@dataclass(frozen=True)
class Command:
    text: str
    mode: str  # run, parse-only, not-run
    section: str


def _section(pos: int) -> str:
    heads = [m for m in re.finditer(r"^##+ (.+)$", README[:pos], re.M)]
    return heads[-1].group(1).split(" (")[0] if heads else ""


def readme_blocks() -> list[Block]:
    out = []
    for m in FENCE.finditer(README):
        marks = []
        for mark in MARK.finditer(m.group(1)):
            args = re.findall(r"`([^`]+)`", mark.group(2))
            marks.append(Mark(mark.group(1), *(args + ["", ""])[:2], mark.group(3)))
        assert len(marks) == m.group(1).count("<!--"), f"a readme-test comment does not parse: {m.group(1)}"
        out.append(Block(m.group(2), m.group(3), _section(m.start()), tuple(marks)))
    return out


def block_commands(block: Block) -> list[Command]:
    """The commands of a bash block: one per line, a ``&&`` chain split into its commands."""
    out = []
    for line in block.code.splitlines():
        line = re.sub(r"\s+#.*$", "", line).strip()
        for text in filter(None, (part.strip() for part in line.split("&&")) if line and line[0] != "#" else ()):
            mark = next((m for m in block.marks if m.mode != "not-a-command" and m.covers(text)), None)
            out.append(Command(text, mark.mode if mark else "run", block.section))
    return out


def inline_commands() -> list[tuple[str, str]]:
    """``(text, subcommand-of-its-table-row)`` of every command in inline code outside fenced blocks;
    a table row's ``--flag value`` spans belong to the row's first ``asl-edge`` command."""
    prose = re.sub(r"<!--.*?-->", "", FENCE.sub("", README), flags=re.S).splitlines()
    chunks = [line for line in prose if line.startswith("|")] + ["\n".join(l for l in prose if not l.startswith("|"))]
    out = []
    for chunk in chunks:
        row_command = ""
        for span in re.findall(r"`([^`]+)`", chunk):
            text = " ".join(span.split())
            if re.match(r"(\S*asl-edge|make|pip install|python3?|\.) ", text):
                out.append((re.sub(r"^\S*asl-edge ", "asl-edge ", text), ""))
                row_command = row_command or (text.split()[1] if text.startswith("asl-edge ") else "")
            elif text.startswith("--") and row_command and " " in text and chunk.startswith("|"):
                out.append((text, row_command))
    return out


def _cli():
    from asl_edge.cli import _register, cli

    _register()
    return cli


def _subcommand(name: str) -> click.Command:
    cli = _cli()
    command = cli.get_command(click.Context(cli), name)
    assert command is not None, f"README names `asl-edge {name}`, which is no command"
    return command


def parse_asl_edge(text: str) -> click.Context | None:
    """Parses an ``asl-edge ...`` command line as the CLI would, without running it (None: it asked for
    --help, which was printed). ``asl-edge NAME`` alone, as prose names a command, is ``NAME --help``."""
    argv = shlex.split(text)[1:]
    if len(argv) == 1 and not argv[0].startswith("-"):
        argv.append("--help")
    command, name, args = (_cli(), "asl-edge", argv) if argv[0].startswith("-") else (
        _subcommand(argv[0]), argv[0], argv[1:])
    try:
        return command.make_context(name, args)
    except click.exceptions.Exit as done:  # --help
        assert done.exit_code == 0
        return None


def _flags(command: click.Command) -> set[str]:
    return {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)} | {"--help", "-h"}


def _is_synopsis(text: str) -> bool:
    return any(c in text for c in "[|") or any(PLACEHOLDER.match(t) for t in text.split()[2:])


# -- every block is run or marked ---------------------------------------------------------------------
def test_every_fenced_block_is_run_or_marked_with_a_reason():
    blocks = readme_blocks()
    assert len(blocks) >= 6
    for block in blocks:
        modes = {m.mode for m in block.marks}
        if block.lang == "python":
            assert PYTHON_BLOCKS.get(block.section), f"a python block in '{block.section}' that no test runs"
        elif block.lang == "bash":
            commands = block_commands(block)
            assert commands and all(c.mode == "run" or c.mode in modes for c in commands)
            for mark in block.marks:  # a mark that names no command is stale
                assert any(mark.covers(c.text) for c in commands), f"{mark} covers no command of its block"
        else:
            assert modes == {"not-a-command"}, f"a ```{block.lang} block in '{block.section}' with no test"
    assert sorted(b.section for b in blocks if b.lang == "python") == sorted(PYTHON_BLOCKS)


def test_a_command_is_run_unless_a_marked_reason_says_why_not():
    commands = [c for b in readme_blocks() if b.lang == "bash" for c in block_commands(b)]
    by_mode = {mode: [c.text for c in commands if c.mode == mode] for mode in ("run", "parse-only", "not-run")}
    assert by_mode["run"], "no README command runs"
    # what runs is asl-edge itself; anything else (make, pip, apt, git, a venv) needs a mark
    assert all(t.startswith("asl-edge ") for t in by_mode["run"]), by_mode["run"]
    assert not [t for t in by_mode["parse-only"] if not re.match(r"(asl-edge|make|pip install) ", t)]
    assert "make demo" in by_mode["parse-only"] and "make test" in by_mode["parse-only"]


# -- parse-only and inline commands -------------------------------------------------------------------
def _parsed_commands() -> list[str]:
    blocks = [c.text for b in readme_blocks() if b.lang == "bash" for c in block_commands(b)
              if c.mode in ("run", "parse-only") and c.text.startswith("asl-edge ")]
    inline = {t for t, row in inline_commands() if not row and t.startswith("asl-edge ") and not _is_synopsis(t)}
    return blocks + sorted(inline)


@pytest.mark.parametrize("text", _parsed_commands())
def test_every_concrete_asl_edge_command_parses_with_the_real_cli(text, monkeypatch):
    monkeypatch.chdir(REPO)  # README's paths are the clone's
    ctx = parse_asl_edge(text)
    if ctx is not None:  # every flag given reached a parameter (none swallowed as an argument)
        given = [t.split("=")[0] for t in shlex.split(text) if t.startswith("-")]
        assert set(given) <= _flags(ctx.command), text


SYNOPSES = [(t, row) for t, row in inline_commands() if row or (t.startswith("asl-edge ") and _is_synopsis(t))]


@pytest.mark.parametrize(("text", "row"), SYNOPSES)
def test_every_synopsis_names_only_real_commands_and_flags(text, row):
    name = row or text.split()[1]
    tokens = re.sub(r"\\\||[\[\]|]|\.\.\.", " ", text).split()
    flags = {t.split("=")[0] for t in tokens if t.startswith("-")}
    assert flags <= _flags(_subcommand(name)), f"`{text}`: no such flag of asl-edge {name}"


@pytest.mark.parametrize("text", sorted({t for t, _ in inline_commands() if re.match(r"python3? \S+\.py\b", t)}))
def test_every_script_named_exists_and_parses_its_arguments(text, monkeypatch, capsys):
    """README's ``python benchmarks/x.py`` commands run for minutes to an hour: each script's own
    parser reads them, with --help added."""
    from conftest import load_script

    monkeypatch.chdir(REPO)
    script, *args = shlex.split(text)[1:]
    with pytest.raises(SystemExit) as done:
        load_script(script).main([*args, "--help"])
    assert done.value.code == 0 and "usage:" in capsys.readouterr().out


def test_synopses_were_found():
    assert len(SYNOPSES) >= 8 and any(row for _, row in SYNOPSES)


def _extras() -> set[str]:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    return set(cfg["options.extras_require"])


def test_every_pip_install_names_real_extras():
    texts = [c.text for b in readme_blocks() if b.lang == "bash" for c in block_commands(b)]
    texts += [t for t, _ in inline_commands()]
    installs = [t for t in texts if t.startswith("pip install ")]
    assert len(installs) >= 3
    for text in installs:
        (target,) = shlex.split(text)[2:]
        extras = re.fullmatch(r"\.\[([\w,-]+)\]", target).group(1).split(",")
        assert set(extras) <= _extras(), text


DRY_RUN = ("make", "-n", "--no-print-directory", "-C", str(REPO))


def _make_targets() -> list[str]:
    texts = [c.text for b in readme_blocks() if b.lang == "bash" for c in block_commands(b)]
    texts += [t for t, _ in inline_commands()]
    return sorted({t for t in texts if t.startswith("make ")})


@pytest.mark.parametrize("text", _make_targets())
def test_every_make_command_dry_runs_and_its_asl_edge_lines_parse(text, tmp_path):
    # a venv that is not there: the dry run shows every step, the install included
    r = subprocess.run([*DRY_RUN, *shlex.split(text)[1:], f"VENV={tmp_path / 'venv'}"], capture_output=True,
                       text=True, check=False)
    assert r.returncode == 0, r.stderr
    for line in r.stdout.splitlines():
        if re.match(r"\S*/bin/asl-edge ", line):
            parse_asl_edge("asl-edge " + line.split(" ", 1)[1])


def test_the_demo_measures_the_camera_shifts_and_says_how_to_reach_the_command():
    r = subprocess.run([*DRY_RUN, "demo"], capture_output=True, text=True, check=True)
    bench = next(line for line in r.stdout.splitlines() if re.match(r"\S*/bin/asl-edge benchmark ", line))
    assert "--shifts" in shlex.split(bench)
    last = r.stdout.strip().splitlines()[-1]
    assert ". .venv/bin/activate" in last and "asl-edge --help" in last
    quick_start = README[README.index("## Quick start"):README.index("## Commands")]
    assert "`. .venv/bin/activate`" in quick_start and "`asl-edge --help`" in quick_start


# -- the commands that run ----------------------------------------------------------------------------
def _builtin_photos(dest: Path, indices=(0, 401, 1203)) -> list[tuple[Path, str]]:
    """Photographs of the built-in set (their original bytes, as a user's camera made them) and labels."""
    from PIL import Image

    import asl_edge.data.builtin as builtin

    with np.load(builtin.BUILTIN_FILE) as z:
        blobs, offsets, labels = z["blobs"].tobytes(), z["offsets"], z["labels"]
    out = []
    for i, name in zip(indices, ("photo.jpg", "photos/a.jpg", "photos/b.jpg")):
        (dest / name).parent.mkdir(exist_ok=True)
        Image.open(io.BytesIO(blobs[offsets[i]:offsets[i + 1]])).convert("RGB").save(dest / name)
        out.append((dest / name, str(labels[i])))
    return out


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """A scratch folder as a user's clone looks to README's commands: the committed export/ and
    benchmarks/ folders, photographs, and pi4.json (a Pi's results: the x86 ones renamed, since
    README's benchmark line only parses here)."""
    import json

    root = tmp_path_factory.mktemp("clone")
    for name in ("export", "benchmarks"):
        (root / name).symlink_to(REPO / name)
    _builtin_photos(root)
    doc = json.loads((REPO / "benchmarks/results/bench/x86_64-2core-epyc-avx2.json").read_text())
    doc["machine"].update(device="Pi 4", arch="aarch64", cores=4)
    (root / "pi4.json").write_text(json.dumps(doc))
    return root


def test_readme_commands_run_as_written(clone):
    commands = [c.text for b in readme_blocks() if b.lang == "bash" for c in block_commands(b) if c.mode == "run"]
    script = ["set -euo pipefail", 'asl-edge() { "$PY" -m asl_edge "$@"; }']
    for i, text in enumerate(commands):
        script += [f"echo '@@ {i}'", text]
    env = {**os.environ, "PY": sys.executable, "PYTHONPATH": str(REPO)}
    r = subprocess.run(["bash", "-c", "\n".join(script)], cwd=clone, env=env, capture_output=True, text=True,
                       check=False)
    assert r.returncode == 0, f"{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
    outputs = dict(zip(commands, re.split(r"^@@ \d+\n", r.stdout, flags=re.M)[1:]))
    predict = next(t for t in commands if t.startswith("asl-edge predict"))
    from asl_edge.runtime.predict import load_predictor

    model = load_predictor(clone / shlex.split(predict)[2])
    for path, label in _builtin_photos(clone):
        name = path.relative_to(clone).as_posix()
        line = next(line for line in outputs[predict].splitlines() if line.startswith(f"{name}:"))
        assert line.split()[1] == model.predict(path).label == label, line
    assert any(t.startswith("asl-edge report") for t in commands)
    assert "Pi 4" in (clone / "runs/report/REPORT.md").read_text()


def test_the_python_api_block_runs(clone, tiny_npz, monkeypatch):
    """README's API block, run in the clone. Two stand-ins keep it fast, each checked to be in the
    block: the tiny data set's settings for ``train("fast")``, and a tiny calibration, no accuracy
    gate and a short measurement for the tiny model's export and benchmark."""
    from conftest import TINY_SETS

    (code,) = [b.code for b in readme_blocks() if b.lang == "python" and b.section == "Python API"]
    tiny = [f"data.source={tiny_npz}", *TINY_SETS, "train.epochs=1"]
    swaps = {'asl_edge.train("fast")': f"asl_edge.train('fast', sets={tiny!r})",
             "ExportConfig(int8=True)": "ExportConfig(int8=True, calib_samples=20, max_drop=100.0)",
             'asl_edge.benchmark([exported.folder], out="runs/bench.json")':
                 'asl_edge.benchmark([exported.folder], BenchConfig(runs=3, warmup=1, batch=8, rounds=1), '
                 'out="runs/bench.json")'}
    for old, new in swaps.items():
        assert code.count(old) == 1, old
        code = code.replace(old, new)
    monkeypatch.chdir(clone)
    (clone / "other.jpg").write_bytes((clone / "photos/a.jpg").read_bytes())
    from asl_edge.bench import BenchConfig

    scope: dict = {"BenchConfig": BenchConfig}
    exec(compile(code, "README.md (Python API)", "exec"), scope)
    assert (scope["result"].label, [r.label for r in scope["results"]]) == ("0", ["0", "2", "2"])
    assert scope["run"].folder == Path("runs/train/edge_cnn-fast")
    int8 = next(a for a in scope["exported"].artifacts if a.format == "tflite_int8")
    assert scope["int8"] == int8.path and int8.path.is_file()
    rows = [r for r in scope["measured"].rows if r.artifact == int8.path.name and r.device == "cpu"]
    assert rows and rows[0].accuracy == pytest.approx(int8.accuracy, abs=1e-6)
    assert scope["measured"].json_path.is_file()
