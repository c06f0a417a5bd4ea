"""cirrbench's harness (``cirrbench.benchmark``): cohort index, validation, phantom, splits, runners,
execution, statistics, reports and the command line. The public API is the ``cirrbench`` package."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cirrbench")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0+unknown"
