#!/usr/bin/env bash
# ARM64 emulation check (`make arm64-check`): the runtime-only package (`asl-edge[pi]`) inside a
# 64-bit ARM Debian 12 bookworm userland (Python 3.11, the base of Raspberry Pi OS 12) under QEMU
# user-mode emulation must give the same predictions as on this x86 machine, for every artifact of
# the reference export: int8 outputs within 1 LSB, float outputs within 1e-4.
#
# Writes benchmarks/results/arm64/arm64-emulated.json (predictions only: timings under emulation are not
# Raspberry Pi timings and are not recorded; `check_seconds` is what the check itself took). Exit 0 with "skipped: <why>" where it cannot run
# (not root, not Linux x86-64, no binfmt_misc, no network to the Debian mirror or the package
# index); exit 1 when predictions differ.
#
# Usage: bash benchmarks/arm64_check.sh [EXPORT_DIR]
#   PYTHON=...  host interpreter with asl-edge[train] installed (default .venv/bin/python)
#   OUT=...     result file (default benchmarks/results/arm64/arm64-emulated.json)
#   MIRROR=...  Debian mirror for mmdebstrap (default http://deb.debian.org/debian)
# The arm64 userland and its wheels are cached under .arm64/ (gitignored); delete it to rebuild.
set -euo pipefail
cd "$(dirname "$0")/.."
EXPORT=${1:-export/asl-digits-fast}
PY=${PYTHON:-.venv/bin/python}
OUT=${OUT:-benchmarks/results/arm64/arm64-emulated.json}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
CACHE=.arm64
ROOTFS=$CACHE/rootfs
WORK=$CACHE/work
WHEELS=$CACHE/wheels
START=$(date +%s)

say() { echo "arm64-check: $*"; }
skip() { say "skipped: $*"; exit 0; }
die() { say "FAILED: $*" >&2; exit 1; }

# -- can it run here? ------------------------------------------------------------------------------
[ "$(uname -s)" = Linux ] || skip "needs Linux (binfmt_misc and chroot)"
case "$(uname -m)" in
  x86_64) ;;
  aarch64) skip "this machine is already arm64: run 'make pi-check' here instead" ;;
  *) skip "host architecture $(uname -m) is not supported (x86_64 only)" ;;
esac
[ "$(id -u)" = 0 ] || skip "needs root (mounting binfmt_misc, chroot); run it as root or in CI"
[ -x "$PY" ] || die "no host Python at $PY (run 'make install' or set PYTHON=)"
[ -f "$EXPORT/manifest.json" ] || die "$EXPORT is not an export folder (no manifest.json)"

mkdir -p "$CACHE" "$WORK" "$WHEELS"
if ! command -v mmdebstrap >/dev/null || ! command -v update-binfmts >/dev/null || ! command -v qemu-aarch64-static >/dev/null; then
  command -v apt-get >/dev/null || skip "qemu-user-static, binfmt-support and mmdebstrap are missing and there is no apt-get"
  say "installing qemu-user-static binfmt-support mmdebstrap (apt-get)"
  { timeout 300 apt-get update -q && DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q \
      qemu-user-static binfmt-support mmdebstrap; } >"$WORK/apt.log" 2>&1 \
    || skip "cannot install qemu-user-static/binfmt-support/mmdebstrap (no network to the Debian mirror?): $(tail -1 "$WORK/apt.log")"
fi
if ! mountpoint -q /proc/sys/fs/binfmt_misc; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null \
    || skip "cannot mount binfmt_misc (an unprivileged container?)"
fi
update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
grep -q '^enabled' /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null \
  || skip "binfmt_misc has no enabled qemu-aarch64 entry (update-binfmts --enable qemu-aarch64 failed)"

# -- the arm64 userland (cached) -------------------------------------------------------------------
if [ ! -f "$ROOTFS/.complete" ]; then
  say "building the Debian bookworm arm64 userland in $ROOTFS (mmdebstrap --variant=extract)"
  rm -rf "$ROOTFS" "$ROOTFS.tmp"
  timeout 900 mmdebstrap --quiet --variant=extract --architectures=arm64 \
      --include=python3,python3-venv,libstdc++6 bookworm "$ROOTFS.tmp" "$MIRROR" >"$CACHE/mmdebstrap.log" 2>&1 \
    || { rm -rf "$ROOTFS.tmp"; skip "mmdebstrap failed (no network to $MIRROR?): $(tail -1 "$CACHE/mmdebstrap.log")"; }
  mv "$ROOTFS.tmp" "$ROOTFS"
  touch "$ROOTFS/.complete"
fi
# Without the binfmt "F" flag the kernel looks for the interpreter inside the chroot.
if ! grep -q '^flags:.*F' /proc/sys/fs/binfmt_misc/qemu-aarch64; then
  install -D "$(command -v qemu-aarch64-static)" "$ROOTFS/usr/bin/qemu-aarch64-static"
fi
# A Cortex-A72 (Raspberry Pi 4) CPU description: onnxruntime crashes on import under emulation
# when it reads the host's x86 /proc/cpuinfo beside /sys/devices/system/cpu, and LiteRT silently
# skips XNNPACK when its CPU detection fails. No /proc or /sys is mounted in the chroot.
# One Cortex-A72 block (the Raspberry Pi 4's r0p3 core) per host core: QEMU runs guest threads on
# host cores, and onnxruntime pins its threads to the cores it is told exist.
CORES=$(nproc)
mkdir -p "$ROOTFS/proc" "$ROOTFS/sys/devices/system/cpu"
for i in $(seq 0 $((CORES - 1))); do
  sed "s/^processor\t: N$/processor\t: $i/" benchmarks/arm64/cpuinfo-cortex-a72
done >"$ROOTFS/proc/cpuinfo"
for f in possible present online; do echo "0-$((CORES - 1))" >"$ROOTFS/sys/devices/system/cpu/$f"; done
export QEMU_CPU=cortex-a72
CHROOT=$(command -v chroot)
in_arm64() { env -i PATH=/opt/venv/bin:/usr/bin:/bin HOME=/root LC_ALL=C.UTF-8 QEMU_CPU=$QEMU_CPU "$CHROOT" "$ROOTFS" "$@"; }
[ "$(in_arm64 /usr/bin/python3 -c 'import platform; print(platform.machine())' 2>/dev/null)" = aarch64 ] \
  || skip "the arm64 userland does not run under binfmt/QEMU here"

# -- the runtime-only package, as aarch64 wheels ----------------------------------------------------
# Downloaded on the host (its pip configuration, certificates and proxies apply), installed offline
# in the chroot. The runtimes are pinned to the host's versions so only the architecture differs.
say "fetching aarch64 wheels for cp311"
rm -f "$WHEELS"/asl_edge-*.whl
# Offline first (the host's own setuptools), then with pip's isolated build environment.
"$PY" -m pip wheel -q --no-deps --no-build-isolation . -w "$WHEELS" >"$WORK/pip-wheel.log" 2>&1 \
  || "$PY" -m pip wheel -q --no-deps . -w "$WHEELS" >>"$WORK/pip-wheel.log" 2>&1 \
  || skip "cannot build the asl-edge wheel (no network for its build requirements?): $(grep -m1 ERROR "$WORK/pip-wheel.log" || tail -1 "$WORK/pip-wheel.log")"
WHEEL=$(ls "$WHEELS"/asl_edge-*.whl)
"$PY" - >"$WORK/constraints.txt" <<'PY'
from importlib import metadata
for dist in ("ai-edge-litert", "onnxruntime", "numpy"):
    try:
        print(f"{dist}=={metadata.version(dist)}")
    except metadata.PackageNotFoundError:
        pass
PY
PLATFORMS="--platform manylinux2014_aarch64"
for v in $(seq 17 36); do PLATFORMS="$PLATFORMS --platform manylinux_2_${v}_aarch64"; done  # bookworm: glibc 2.36
# shellcheck disable=SC2086
"$PY" -m pip download -q --only-binary=:all: $PLATFORMS --python-version 3.11 --implementation cp \
    -c "$WORK/constraints.txt" -d "$WHEELS" "$WHEEL[pi]" >"$WORK/pip-download.log" 2>&1 \
  || skip "cannot fetch the aarch64 wheels (no network to the package index?): $(grep -m1 -i error "$WORK/pip-download.log" || tail -1 "$WORK/pip-download.log")"

say "installing asl-edge[pi] in a venv inside the arm64 userland"
[ -x "$ROOTFS/opt/venv/bin/python" ] || in_arm64 /usr/bin/python3 -m venv /opt/venv
rm -rf "$ROOTFS/wheels" && cp -r "$WHEELS" "$ROOTFS/wheels"
in_arm64 /opt/venv/bin/python -m pip install -q --no-index --find-links /wheels "asl-edge[pi]" >"$WORK/pip-install.log" 2>&1 \
  && in_arm64 /opt/venv/bin/python -m pip install -q --no-index --no-deps --force-reinstall "/wheels/$(basename "$WHEEL")" >>"$WORK/pip-install.log" 2>&1 \
  || die "pip install inside the arm64 userland failed: $(tail -1 "$WORK/pip-install.log")"
if in_arm64 /opt/venv/bin/python -c "import tensorflow" 2>/dev/null; then
  die "tensorflow got installed with the pi extra"
fi
in_arm64 /opt/venv/bin/asl-edge --version

# -- predictions on both sides, then the comparison --------------------------------------------------
say "predicting on x86 ($PY)"
"$PY" benchmarks/arm64/outputs.py inputs "$EXPORT" "$WORK/pixels.npy"
"$PY" benchmarks/arm64/outputs.py predict "$EXPORT" "$WORK/pixels.npy" "$WORK/x86.npz"
say "predicting under emulation (QEMU_CPU=$QEMU_CPU)"
rm -rf "$ROOTFS/check" && mkdir -p "$ROOTFS/check"
cp -r "$EXPORT" "$ROOTFS/check/export"
cp "$WORK/pixels.npy" benchmarks/arm64/outputs.py "$ROOTFS/check/"
in_arm64 /opt/venv/bin/python /check/outputs.py predict /check/export /check/pixels.npy /check/arm64.npz
cp "$ROOTFS/check/arm64.npz" "$WORK/arm64.npz"

QEMU_VERSION=$(qemu-aarch64-static --version 2>/dev/null | head -1 || echo "qemu-aarch64 (version unknown)")
set +e
"$PY" benchmarks/arm64/outputs.py compare "$EXPORT" "$WORK/pixels.npy" "$WORK/x86.npz" "$WORK/arm64.npz" "$OUT" --qemu "$QEMU_VERSION" \
  --seconds $(( $(date +%s) - START ))
rc=$?
set -e
[ $rc -eq 0 ] || die "predictions differ between x86 and arm64 (see $OUT)"
say "OK: every artifact gives the same predictions under arm64 emulation ($(( $(date +%s) - START )) s in all)"
