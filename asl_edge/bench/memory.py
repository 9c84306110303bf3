"""Peak resident memory per benchmark row, from /proc on Linux (ru_maxrss elsewhere)."""

from __future__ import annotations

import re
import resource
import sys
from pathlib import Path


# -- memory ---------------------------------------------------------------------------------------
def status_kb(field: str) -> int | None:
    try:
        match = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    except OSError:
        return None
    return int(match.group(1)) if match else None


def return_freed_memory() -> bool:
    """Makes glibc serve allocations of 1 MiB and more with mmap, whatever was freed before.

    By default glibc raises its mmap threshold each time a large block is freed (man 3 mallopt,
    M_MMAP_THRESHOLD), so the next image arrays and pickles land on the heap, where small blocks
    kept alive between them stop the memory from going back to the system. The peak RSS of every
    later row then carries the earlier rows' leftovers (measured here: about 40 MB on the reference
    export). A fixed threshold returns freed arrays to the system at once.

    Returns:
        True where it was applied (glibc), False elsewhere.
    """
    import ctypes
    import platform

    if platform.libc_ver()[0] != "glibc":
        return False
    m_mmap_threshold = -3  # from <malloc.h>
    try:
        return bool(ctypes.CDLL(None).mallopt(m_mmap_threshold, 1 << 20))
    except (OSError, AttributeError):
        return False


def reset_peak_rss() -> bool:
    """Resets the kernel's RSS high-water mark to the current RSS (Linux >= 4.0); False where unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return status_kb("VmHWM") is not None


def peak_rss_mb(reset_worked: bool) -> float:
    """Peak RSS since :func:`reset_peak_rss`, or the process's lifetime peak where the reset is unsupported."""
    hwm = status_kb("VmHWM") if reset_worked else None
    if hwm is not None:
        return hwm / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
