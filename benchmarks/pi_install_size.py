"""Disk size of the runtime-only install, as a Raspberry Pi gets it: a fresh venv, then pip.

Each variant of :data:`VARIANTS` is installed into its own new virtual environment (the registry
must be reachable) and measured with ``du`` (disk usage, MiB), with its largest site-packages
entries and every installed distribution. The editable install keeps asl-edge's own files (11 MB of
built-in data among them) in the clone, so it is the smaller figure; README's Pi step installs
``.[pi,camera]`` without ``-e``.

Usage: python benchmarks/pi_install_size.py [--out benchmarks/results/pi_install.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# (name, pip arguments after `pip install`)
VARIANTS = (("pi editable", ["-e", ".[pi]"]), ("pi", [".[pi]"]), ("pi,camera", [".[pi,camera]"]))


def _mib(path: Path) -> int:
    return int(subprocess.run(["du", "-sm", str(path)], capture_output=True, text=True, check=True).stdout.split()[0])


def measure(name: str, args: list[str], python: str) -> dict:
    """Installs one variant into a new venv and measures it."""
    with tempfile.TemporaryDirectory(prefix="pi-size-") as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip"]
        subprocess.run([*pip, "install", "-q", *args], cwd=ROOT, check=True)
        site = next((venv / "lib").glob("python3*/site-packages"))
        largest = sorted(((p.name, _mib(p)) for p in site.iterdir()), key=lambda x: -x[1])[:8]
        installed = json.loads(subprocess.run([*pip, "list", "--format", "json"], capture_output=True, text=True,
                                              check=True).stdout)
        return {"variant": name, "command": f"{python} -m venv VENV && VENV/bin/pip install {' '.join(args)}",
                "venv_mib": _mib(venv), "largest_site_packages_mib": dict(largest),
                "pip": next(d["version"] for d in installed if d["name"] == "pip"),
                "distributions": {d["name"]: d["version"] for d in installed},
                "has": {m: any(d["name"].lower() == m for d in installed)
                        for m in ("scikit-learn", "scipy", "tensorflow", "opencv-python-headless")}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/pi_install.json")
    ap.add_argument("--python", default="python3", help="the interpreter whose venv module builds each venv")
    args = ap.parse_args(argv)
    version = subprocess.run([args.python, "-c", "import platform; print(platform.python_version())"],
                             capture_output=True, text=True, check=True).stdout.strip()
    doc = {"what": "disk usage (du -sm, MiB) of a fresh venv after pip install of the runtime-only extras",
           "machine": f"{platform.machine()} {platform.system()}", "python": version,
           "script": "python benchmarks/pi_install_size.py",
           "variants": [measure(name, pip_args, args.python) for name, pip_args in VARIANTS]}
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    for v in doc["variants"]:
        print(f"{v['variant']:>12}: {v['venv_mib']} MiB  ({v['command']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
