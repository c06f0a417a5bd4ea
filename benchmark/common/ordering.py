"""One natural order for patient ids and file stems: numbers by value, then text."""

from __future__ import annotations

__all__ = ["natural_key"]


def natural_key(value: str) -> tuple:
    """``"9" < "10" < "a"``: numeric ids by value (as the dataset numbers patients), others after."""
    return (0, int(value), "") if value.isdigit() else (1, 0, value)
