"""What a wheel ships: every data file the package reads is named by setup.cfg's package_data (a file
left out is missing only on a device, where `pip install ".[pi]"` is the whole install)."""

import fnmatch
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _package_data() -> list[str]:
    """Every package_data glob as a path from the repository root, as setuptools itself reads them
    (one line of several globs is split on commas, several lines only on line ends)."""
    from setuptools.config.setupcfg import read_configuration

    package_data = read_configuration(REPO / "setup.cfg")["options"]["package_data"]
    return [f"{package.replace('.', '/')}/{glob}" for package, globs in package_data.items() for glob in globs]


def _tracked_data_files() -> list[str]:
    files = subprocess.run(["git", "ls-files", "asl_edge"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split()
    return [f for f in files if not f.endswith(".py")]


def test_every_data_file_of_the_package_is_shipped():
    globs = _package_data()
    data = _tracked_data_files()
    assert any(f.endswith("china.jpg") for f in data) and any(f.endswith(".tflite") for f in data)
    missing = [f for f in data if not any(fnmatch.fnmatch(f, g) for g in globs)]
    assert not missing, f"not in setup.cfg's package_data, so not in the wheel: {missing}"


def test_every_package_data_glob_matches_a_file():
    data = _tracked_data_files()
    assert [g for g in _package_data() if not any(fnmatch.fnmatch(f, g) for f in data)] == []
