"""How asl-edge writes numbers for people: one place, so the terminal and the report agree.

Accuracy is a percentage with two decimals (``99.63%``), counts are whole numbers with their noun
in the right number (``1 epoch``, ``1,882 images``), ratios are rounded (``1.33x``), durations read
as a clock would (``4 min 05 s``). ``None`` (not measured) is ``-`` everywhere.
"""

from __future__ import annotations

import math

MISSING = "-"

# Nouns whose plural is not the singular plus "s".
_IRREGULAR = {"MAC": "MACs", "person": "people", "class": "classes", "batch": "batches", "entry": "entries"}


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def count(n) -> str:
    """A whole number with thousands separators: ``1882`` -> ``1,882``."""
    return MISSING if _missing(n) else f"{int(n):,}"


def plural(n, noun: str, plural_form: str | None = None) -> str:
    """``n`` and its noun in the right number: ``1 epoch``, ``2 epochs``, ``1,882 images``, ``0 classes``."""
    if _missing(n):
        return f"{MISSING} {plural_form or _IRREGULAR.get(noun, noun + 's')}"
    word = noun if int(n) == 1 else plural_form or _IRREGULAR.get(noun, noun + "s")
    return f"{count(n)} {word}"


def percent(share, digits: int = 2) -> str:
    """A share in 0..1 as a percentage: ``0.99625`` -> ``99.63%`` (``None``: ``-``)."""
    return MISSING if _missing(share) else f"{share * 100:.{digits}f}%"


def number(value, significant: int = 3) -> str:
    """A measured or configured figure without float noise: ``1.3333`` -> ``1.33``, ``15.0`` -> ``15``,
    ``0.125`` -> ``0.125``; whole numbers of ``significant`` digits or more keep every digit."""
    if _missing(value):
        return MISSING
    if abs(value) >= 10 ** significant:
        return f"{value:,.0f}"
    return f"{value:.{significant}g}"


def ratio(value, significant: int = 3) -> str:
    """A factor: ``1.3333`` -> ``1.33x``, ``8.0`` -> ``8x``."""
    return MISSING if _missing(value) else f"{number(value, significant)}x"


def decimal(value, digits: int = 3) -> str:
    """A figure with a fixed number of decimals (a latency in ms, an F1 score)."""
    return MISSING if _missing(value) else f"{value:,.{digits}f}"


def kilobytes(n_bytes) -> str:
    """A size in bytes as KB (1024 bytes) with one decimal: ``131072`` -> ``128.0 KB``."""
    return MISSING if _missing(n_bytes) else f"{n_bytes / 1024:,.1f} KB"


def duration(seconds) -> str:
    """Seconds as people say them: ``42 s``, ``4 min 05 s``, ``1 h 02 min``; under ten seconds
    one decimal (``3.2 s``)."""
    if _missing(seconds):
        return MISSING
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = int(round(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def with_count(data: str, n, noun: str = "image") -> str:
    """What a figure was measured on, with its count said once: ``held-out signers: 267 images``
    whether or not ``data`` already ends with the count."""
    counted = plural(n, noun)
    return data if data.endswith(counted) else f"{data}: {counted}" if data else counted
