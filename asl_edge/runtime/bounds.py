"""Numeric ranges of settings and of fields read from files, checked with one line naming the key.

A setting is declared once, with its type, default and range, as a dataclass field
(``epochs: int = setting(40, 1, 100_000)``); :func:`check_fields` checks an instance against the
ranges of its fields, and :func:`field_range` gives one field's range to a caller (``--set``
checks each key as it is applied). The report's input schema uses :class:`Range` for its bounds.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from asl_edge.runtime.errors import ConfigError


@dataclass(frozen=True)
class Range:
    """An interval of allowed numbers; an open end excludes its bound, ``None`` leaves a side unbounded.

    Attributes:
        lo: smallest value (``None``: none).
        hi: largest value (``None``: none).
        lo_open: ``lo`` itself is excluded.
        hi_open: ``hi`` itself is excluded.
        note: what the value is, for the message (``"is a share of the images"``).
    """

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    note: str = ""

    def __contains__(self, value) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            return False
        if self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo):
            return False
        return not (self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi))

    def __str__(self) -> str:
        lo = "-inf" if self.lo is None else _number(self.lo)
        hi = "inf" if self.hi is None else _number(self.hi)
        left = "(" if self.lo_open or self.lo is None else "["
        return f"{left}{lo}, {hi}{')' if self.hi_open or self.hi is None else ']'}"

    def message(self, key: str, value) -> str:
        """``key must lie in [lo, hi], got value`` (with the note: ``key NOTE: it must lie in ...``)."""
        lead = f"{key} {self.note}: it must" if self.note else f"{key} must"
        return f"{lead} lie in {self}, got {value!r}"


def _number(v) -> str:
    return str(v) if isinstance(v, int) else format(v, "g")


def setting(default, lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
            hi_open: bool = False, note: str = ""):
    """A dataclass field with a default and a :class:`Range` (in its metadata, under ``range``)."""
    return dataclasses.field(default=default, metadata={"range": Range(lo, hi, lo_open, hi_open, note)})


def field_range(cls, name: str) -> Range | None:
    """The range declared for field ``name`` of dataclass ``cls`` (``None``: none)."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            return f.metadata.get("range")
    return None


def check_value(key: str, value, rng: Range | None, error=ConfigError):
    """Returns ``value``, or raises ``error`` with one line naming ``key`` and the range. ``None``
    passes (an optional setting left unset)."""
    if rng is not None and value is not None and value not in rng:
        raise error(rng.message(key, value))
    return value


def check_fields(obj, prefix: str = "", error=ConfigError) -> None:
    """Checks every field of dataclass instance ``obj`` that declares a range."""
    for f in dataclasses.fields(obj):
        check_value(f"{prefix}{f.name}", getattr(obj, f.name), f.metadata.get("range"), error)
