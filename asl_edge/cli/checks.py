"""Range checks of numeric command-line options, each failing with one line (a ConfigError).

click's ``IntRange``/``FloatRange`` let ``nan`` through (every comparison with it is false) and
print a usage block; these reject NaN and infinity and say which option and which range.
"""

from __future__ import annotations

import math

from asl_edge.runtime.errors import ConfigError


def check_number(option: str, value, *, minimum: float | None = None, maximum: float | None = None,
                 below: float | None = None) -> None:
    """Raises ConfigError unless ``value`` is ``None`` or a finite number in the given range.

    Args:
        option: the option as typed, e.g. ``--max-drop``.
        value: its value.
        minimum: smallest allowed value (inclusive).
        maximum: largest allowed value (inclusive).
        below: exclusive upper bound.
    """
    if value is None:
        return
    if not math.isfinite(value):
        raise ConfigError(f"{option} must be a finite number, got {value}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{option} must be at least {minimum:g}, got {value:g}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{option} must be at most {maximum:g}, got {value:g}")
    if below is not None and value >= below:
        raise ConfigError(f"{option} must be below {below:g}, got {value:g}")


def parse_settings(option: str, items) -> dict:
    """``FIELD=VALUE`` items of a repeatable option as a dict, each VALUE read as JSON (``6``, ``true``,
    ``'["smooth"]'``) or, failing that, as the plain word it is."""
    import json

    settings = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"{option} takes FIELD=VALUE, got {item!r}")
        try:
            settings[name.strip()] = json.loads(value)
        except ValueError:
            settings[name.strip()] = value
    return settings
