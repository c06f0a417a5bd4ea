"""Tables shipped inside the package (CSV files beside the modules that read them)."""

from __future__ import annotations

import csv
import io
from importlib import resources

__all__ = ["packaged_rows"]


def packaged_rows(package: str, name: str) -> list[dict[str, str]]:
    """The rows of the CSV file ``name`` of ``package``, as text keyed by the header; read through
    importlib.resources so it works from a wheel as from the source tree.

    Args:
        package: the package holding the file (a module's ``__package__``).
        name: the file name.

    Returns:
        One dict per row.
    """
    text = resources.files(package).joinpath(name).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))
