"""cirrbench's harness: cohort index, validation, phantom, splits, runners, metrics, reports."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cirrbench")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0+unknown"
