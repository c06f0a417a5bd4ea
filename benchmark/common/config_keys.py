"""The config's schema: every key once, with its kind, default and meaning.

One table drives everything that knows a key: the check (unknown keys and the value of every
key whose kind says what it accepts; keys that need a registry or the rest of the config have
their own check in ``config_schema.py``), the defaults the parser fills in, the defaults the
report reads from older manifests, ``--set`` (checked like the file after it is applied) and
``docs/config.md``. ``[]`` in a path stands for each item of a list (``runners[].seeds``).
Protocol options and runner parameters are declared where they live (the protocol's
registration, the runner's ``Params``) and checked against those declarations.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from cirrbench.benchmark.common.kernels import MODES

__all__ = [
    "DEFAULT_FIGURE_FORMATS",
    "FIGURE_FORMATS",
    "ConfigKey",
    "Kind",
    "KEYS",
    "REQUIRED",
    "config_key",
    "default",
    "known_keys",
    "unknown_note",
    "value_problems",
]

REQUIRED = object()  # the default of a key every config must give

#: The formats a figure can be written in (``figures.formats``): the PNG, which the report page
#: embeds, and vector copies for papers.
FIGURE_FORMATS = ("png", "pdf", "svg")
DEFAULT_FIGURE_FORMATS = ("png", "pdf")


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class Kind:
    """What a key holds: ``text`` for the reference, ``phrase`` for a problem ("X is not
    PHRASE"), ``accepts`` the value check (None: the key's section checks it)."""

    text: str
    phrase: str = ""
    accepts: Callable[[Any], bool] | None = None

    def problem(self, value: Any) -> str | None:
        if self.accepts is None or self.accepts(value):
            return None
        return f"{value!r} is not {self.phrase or self.text}"


@dataclass(frozen=True)
class ConfigKey:
    path: str
    kind: Kind
    default: Any
    meaning: str
    shown: str = ""  # the default as the reference writes it, where the value alone does not say it
    unknown_note: str = ""  # added to an unknown key's problem under this mapping

    @property
    def default_text(self) -> str:
        if self.shown:
            return self.shown
        if self.default is REQUIRED:
            return "required"
        return _flow(self.default)


def _flow(value: Any) -> str:
    """A value as YAML's flow style writes it (``[T1W, T2W]``, ``none``, ``false``)."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    return str(value)


NAME = "a name: [A-Za-z0-9][A-Za-z0-9._+-]{0,63}"
INPUTS_TEXT = "list of T1W, T2W, both"
MAPPING = Kind("mapping")
TRUE_OR_FALSE = Kind("true or false", accepts=lambda v: isinstance(v, bool))
INTEGER = Kind("integer", "an integer", is_int)
AT_LEAST_ONE = Kind("integer >= 1", "an integer >= 1", lambda v: is_int(v) and v >= 1)
METRIC_LIST = Kind("list of metrics")
REPORTED_FIELD = Kind("a field of a reported number")

KEYS: tuple[ConfigKey, ...] = (
    ConfigKey("name", Kind(NAME), None, "the experiment's name, in the manifest and report", shown="the file's stem"),
    ConfigKey(
        "plugins",
        Kind(
            "list of .py paths or module names",
            accepts=lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
        ),
        [],
        "imported before the runners are read, so their decorated runners can be listed (paths relative to the config file); `--plugin` adds more",
    ),
    ConfigKey(
        "data",
        MAPPING,
        {},
        "where the cohort comes from",
        shown="{} (the phantom)",
        unknown_note=" (an unknown key must not silently fall back to the phantom)",
    ),
    ConfigKey(
        "data.root",
        Kind("path", "a path", lambda v: isinstance(v, str)),
        None,
        "CirrMRI600+ folder, manifest CSV or feature-table CSV; `--data` and `$CIRRBENCH_DATA` take precedence; without it, the phantom",
    ),
    ConfigKey(
        "data.phantom",
        Kind("mapping", "a mapping like {patients: 120, seed: 0}", lambda v: isinstance(v, dict)),
        {},
        "the synthetic phantom generated (once, cached) when no root is given",
        shown="{patients: 120, seed: 0}",
    ),
    ConfigKey(
        "data.phantom.patients",
        Kind("integer >= 6", "an integer >= 6", lambda v: is_int(v) and v >= 6),
        120,
        "cirrhosis patients in the phantom",
    ),
    ConfigKey("data.phantom.seed", INTEGER, 0, "the phantom's seed: same seed, same files"),
    ConfigKey(
        "data.phantom.scale",
        Kind("number > 0", "a number > 0", lambda v: is_number(v) and v > 0),
        1,
        "grid scale (< 1: smaller volumes, same field of view)",
    ),
    ConfigKey("data.healthy", TRUE_OR_FALSE, False, "include healthy volunteers as a fourth class below mild"),
    ConfigKey(
        "data.labels",
        Kind(
            "list of text",
            "a list of at least two class names",
            lambda v: (
                isinstance(v, list)
                and len(v) >= 2
                and all(isinstance(x, (str, int)) and not isinstance(x, bool) for x in v)
            ),
        ),
        None,
        "class names in order, for manifest and feature-table cohorts (compared case-insensitively); required for numeric labels",
    ),
    ConfigKey(
        "data.ordinal",
        TRUE_OR_FALSE,
        None,
        "whether the classes are ordered (quadratic weighted kappa, stage MAE)",
        shown="true for mild/moderate/severe, else false",
    ),
    ConfigKey(
        "inputs",
        Kind(INPUTS_TEXT),
        ["T1W", "T2W"],
        "what each job feeds its runner: one sequence's scans, or both sequences of a patient together",
    ),
    ConfigKey("sequences", Kind(INPUTS_TEXT), None, "the former name of inputs (still read; give one of the two)"),
    ConfigKey(
        "protocols",
        Kind("list of names or {name: ..., options}"),
        ["official"],
        "split protocols: official, paired, cv, file, each with its options (see Protocol options below)",
    ),
    ConfigKey("protocol", Kind("a name or {name: ..., options}"), None, "one protocol: the same as protocols: [it]"),
    ConfigKey(
        "runners",
        Kind("list of names or mappings"),
        REQUIRED,
        "the methods; `cirrbench runners` lists them (`cirrbench runners NAME`: one with its parameters)",
    ),
    ConfigKey("runners[].name", Kind("registered runner"), REQUIRED, "which runner"),
    ConfigKey(
        "runners[].as",
        Kind(NAME),
        None,
        "row name in tables, when one runner appears with different parameters; part of file names, so letters, digits and . _ + - only (free text belongs in a plugin's display_name)",
        shown="the name",
    ),
    ConfigKey(
        "runners[].params",
        MAPPING,
        {},
        "parameters (see the runner tables below; each is checked for type and range)",
    ),
    ConfigKey("runners[].variants", Kind("list of variant names, or all"), ["default"], "ablation variants to run"),
    ConfigKey(
        "runners[].protocols",
        Kind("list of protocol names"),
        None,
        "restrict this entry to some protocols",
        shown="all of the config's",
    ),
    ConfigKey(
        "runners[].inputs",
        Kind("list of inputs"),
        None,
        "restrict this entry to some inputs",
        shown="all of the config's",
    ),
    ConfigKey("runners[].sequences", Kind("list of inputs"), None, "the former name of runners[].inputs (still read)"),
    ConfigKey(
        "runners[].seeds",
        AT_LEAST_ONE,
        None,
        "training seeds of this entry's jobs per split (the shipped profiles give every runner of a declared comparison 3); the bootstrap resamples them with the patients, and each row shows their spread",
        shown="the config's seeds",
    ),
    ConfigKey("seed", INTEGER, 0, "base seed; seeds derive per split, input and replicate"),
    ConfigKey(
        "seeds",
        AT_LEAST_ONE,
        1,
        "training seeds per split for runners without their own seeds (each seed derives from the base seed, the split and the input: seeds vary jointly with the splits)",
    ),
    ConfigKey(
        "metrics",
        Kind("mapping", "a mapping like {main: accuracy, bootstrap: 2000}", lambda v: isinstance(v, dict)),
        {},
        "which metrics the tables and the verdict use, and the bootstrap",
    ),
    ConfigKey(
        "metrics.main",
        Kind("a registered metric (see Metrics below)"),
        "accuracy",
        "the main tables', verdict's and forest plot's metric",
    ),
    ConfigKey("metrics.bootstrap", AT_LEAST_ONE, 2000, "patient-level bootstrap resamples"),
    ConfigKey(
        "metrics.table",
        METRIC_LIST,
        ["accuracy", "precision", "recall", "specificity", "f1"],
        "columns of the seed paper's table",
    ),
    ConfigKey(
        "metrics.secondary",
        METRIC_LIST,
        ["auc", "qwk", "mae", "ece", "brier"],
        "columns of the second table in that layout: discrimination, ordinal error (ordinal labels only), calibration",
    ),
    ConfigKey(
        "reference",
        Kind("a runner of this config, or null"),
        "majority",
        "the chance row every method is marked against (null: none; the main tables then carry no marks)",
    ),
    ConfigKey(
        "compare",
        Kind("list of [A, B] pairs (A or B may be name:variant)"),
        None,
        "the declared comparisons of the verdict",
        shown="first radiomics vs first deep runner",
    ),
    ConfigKey(
        "figures",
        Kind("mapping", "a mapping like {formats: [png, pdf]}", lambda v: isinstance(v, dict)),
        {},
        "how the report writes its figures",
    ),
    ConfigKey(
        "figures.formats",
        Kind(
            f"list of {', '.join(FIGURE_FORMATS)} that includes png",
            f"a list of {', '.join(FIGURE_FORMATS)} that includes png (the report page embeds the PNG), each once",
            lambda v: (
                isinstance(v, list) and "png" in v and all(f in FIGURE_FORMATS for f in v) and len(set(v)) == len(v)
            ),
        ),
        list(DEFAULT_FIGURE_FORMATS),
        "the files of each figure: png (always; the report page embeds it) plus pdf and svg for papers (each byte-identical for the same predictions); [png] alone draws a report faster",
    ),
    ConfigKey(
        "figures.dpi",
        Kind("integer from 50 to 1200", "an integer from 50 to 1200", lambda v: is_int(v) and 50 <= v <= 1200),
        130,
        "pixels per inch of the PNG files (300 for print; fewer draws a report faster)",
    ),
    ConfigKey(
        "device",
        Kind(
            "auto, cpu, cuda, cuda:N, mps",
            "auto, cpu, cuda, cuda:N or mps",
            lambda v: isinstance(v, str) and re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", v) is not None,
        ),
        "auto",
        "where deep runners train (`--device` overrides)",
    ),
    ConfigKey(
        "reproducible",
        Kind(
            ", ".join(MODES),
            f"one of {', '.join(MODES)} (bitwise: the same bytes on one CPU model)",
            lambda v: v in MODES,
        ),
        "bitwise",
        "bitwise: deep jobs' float kernels pinned to AVX2 (torch, oneDNN, MKL) and deterministic GPU algorithms, so the same job gives the same bytes on one CPU model whatever its kernel level, threads or jobs (across CPU vendors deep predictions have been measured to differ: docs/protocol.md); fast: whatever the machine picks (faster where it has AVX-512; predictions then differ across machines). It enters the deep jobs' keys; `CIRRBENCH_REPRODUCIBLE=fast` keeps the cirrbench command from pinning",
    ),
    ConfigKey(
        "reported",
        Kind("list of mappings"),
        [],
        "numbers reported elsewhere, each with the fields below: shown as 'reported, not rerun'",
    ),
    ConfigKey("reported[].method", Kind("text"), REQUIRED, "the method's row name"),
    ConfigKey("reported[].value", Kind("number"), REQUIRED, "the reported value"),
    ConfigKey("reported[].input", Kind("T1W, T2W or both"), "T1W", "the input it was reported for"),
    ConfigKey("reported[].protocol", Kind("text"), None, "the protocol whose tables show it", shown="every protocol"),
    ConfigKey("reported[].level", Kind("patient or slice"), "patient", "the level it was reported at"),
    ConfigKey("reported[].metric", Kind("a registered metric"), "accuracy", "the metric it is"),
    ConfigKey("reported[].source", Kind("text"), None, "where it was reported (a citation)"),
    ConfigKey(
        "robustness",
        Kind("mapping", "a mapping like {protocol: official, perturbations: [...]}", lambda v: isinstance(v, dict)),
        {},
        "test-time perturbations: models trained on clean scans also predict perturbed copies of their test scans (see Perturbations below)",
        shown="{} (none)",
    ),
    ConfigKey(
        "robustness.protocol",
        Kind("a protocol of this config (not learning-curve)"),
        None,
        "whose test scans are perturbed",
        shown="the config's first protocol",
    ),
    ConfigKey(
        "robustness.runners",
        Kind("list of row names (runner or as:)"),
        None,
        "which runners predict the perturbed scans",
        shown="every runner of that protocol that reads images",
    ),
    ConfigKey(
        "robustness.perturbations",
        Kind("list of {name, levels, seed}"),
        [],
        "the perturbations, each applied at each of its levels; also what the radiomics variant stable-features measures feature robustness with",
        shown="[] (stable-features then uses contour-random 2 mm, noise SNR 40 and rotate 5 degrees)",
    ),
    ConfigKey(
        "robustness.perturbations[].name",
        Kind("a perturbation (see Perturbations below)"),
        REQUIRED,
        "which perturbation",
    ),
    ConfigKey(
        "robustness.perturbations[].levels",
        Kind("list of numbers"),
        REQUIRED,
        "its levels, in its unit (see Perturbations below)",
    ),
    ConfigKey(
        "robustness.perturbations[].seed",
        INTEGER,
        0,
        "seeds its random draws (each scan's draw derives from it and the scan id)",
    ),
    ConfigKey(
        "dask",
        Kind(
            "scheduler address",
            "a scheduler address such as tcp://host:8786",
            lambda v: v is None or isinstance(v, str),
        ),
        None,
        "run on this Dask cluster (`--dask` overrides)",
    ),
)

_BY_PATH = {key.path: key for key in KEYS}


def config_key(path: str) -> ConfigKey:
    return _BY_PATH[path]


def default(path: str) -> Any:
    """The value a config without ``path`` gets (a fresh copy: callers may change it)."""
    value = _BY_PATH[path].default
    if value is REQUIRED:
        raise KeyError(f"{path} has no default: every config gives it")
    return copy.deepcopy(value)


def known_keys(parent: str) -> tuple[str, ...]:
    """The keys a mapping at ``parent`` may hold ("" for the top level, ``runners[]`` for an entry)."""
    prefix = f"{parent}." if parent else ""
    return tuple(
        key.path[len(prefix) :]
        for key in KEYS
        if key.path.startswith(prefix) and "." not in key.path[len(prefix) :] and "[" not in key.path[len(prefix) :]
    )


def unknown_note(parent: str) -> str:
    """What an unknown key under ``parent`` adds to its problem ("" for most mappings)."""
    key = _BY_PATH.get(parent)
    return key.unknown_note if key is not None else ""


def _located(raw: Any, parts: list[str], where: str) -> Iterator[tuple[str, Any]]:
    """(the key as problems name it, its value) for every place ``parts`` reaches in ``raw``."""
    if not parts:
        yield where, raw
        return
    head, rest = parts[0], parts[1:]
    name = head.removesuffix("[]")
    if not isinstance(raw, dict) or name not in raw:
        return
    key = f"{where}.{name}" if where else name
    if head.endswith("[]"):
        items = raw[name]
        for index, item in enumerate(items if isinstance(items, list) else []):
            yield from _located(item, rest, f"{key}[{index}]")
    else:
        yield from _located(raw[name], rest, key)


def value_problems(raw: dict) -> list[tuple[str, str]]:
    """(key, problem) for every given value its kind rejects, in schema order (keys inside list
    items are checked by their list's section, which names the item)."""
    found = []
    for key in KEYS:
        if key.kind.accepts is None or "[]" in key.path:
            continue
        for where, value in _located(raw, key.path.split("."), ""):
            problem = key.kind.problem(value)
            if problem is not None:
                found.append((where, problem))
    return found
