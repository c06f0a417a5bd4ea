"""Experiment configs (YAML, safe-loaded, checked against the schema) and their overrides.

An *input* is what a job feeds its runner: T1W scans, T2W scans, or ``both`` (a patient's two
sequences together); a *sequence* is what one scan is (T1W or T2W).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cirrbench.benchmark.common.config_keys import default
from cirrbench.benchmark.data.perturbations import Perturbation
from cirrbench.benchmark.execution.config_schema import check_config, declared_pair_problems
from cirrbench.benchmark.runners.registry import get_runner

__all__ = [
    "apply_overrides",
    "BOTH",
    "CONFIG_DIR",
    "ConfigError",
    "declared_pair_problems",
    "declared_pairs",
    "Experiment",
    "load_experiment",
    "parse_experiment",
    "ProtocolSpec",
    "read_yaml",
    "RobustnessSpec",
    "RunnerSpec",
]

BOTH = "both"
CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"  # benchmark/configs: the shipped profiles


class ConfigError(ValueError):
    """A config that cannot be run: every problem, one line each naming the key that is wrong."""

    def __init__(self, problems: str | list[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class RunnerSpec:
    name: str
    alias: str | None = None  # row name in tables when one runner appears with different parameters
    params: dict[str, Any] = field(default_factory=dict)
    variants: tuple[str, ...] = ("default",)
    protocols: tuple[str, ...] | None = None  # None: every protocol of the experiment
    inputs: tuple[str, ...] | None = None  # None: every input the runner supports
    seeds: int | None = None  # None: the experiment's seeds


@dataclass(frozen=True)
class ProtocolSpec:
    name: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RobustnessSpec:
    """Which jobs also predict perturbed copies of their test scans, and which perturbations."""

    protocol: str
    runners: tuple[str, ...] | None  # row names; None: every image runner of the protocol
    perturbations: tuple[Perturbation, ...]  # one per (perturbation, level), in config order
    keys: tuple[str, ...] = ()  # each one's config key (robustness.perturbations[i].levels[j]), for errors

    def covers(self, protocol: str, row: str) -> bool:
        return protocol == self.protocol and (self.runners is None or row in self.runners)

    def keyed(self) -> list[tuple[str, Perturbation]]:
        return list(zip(self.keys, self.perturbations))


@dataclass(frozen=True)
class Experiment:
    name: str
    data: dict[str, Any]
    inputs: tuple[str, ...]
    protocols: tuple[ProtocolSpec, ...]
    runners: tuple[RunnerSpec, ...]
    seed: int = default("seed")
    n_seeds: int = default("seeds")
    main_metric: str = default("metrics.main")
    bootstrap: int = default("metrics.bootstrap")
    reference_runner: str | None = default("reference")  # None: no chance row (reference: null)
    device: str = default("device")
    reproducible: str = default(
        "reproducible"
    )  # bitwise | fast: deep jobs' float kernels pinned or free (common/kernels.py)
    reported: tuple[dict[str, Any], ...] = ()
    compare: tuple[tuple[str, str], ...] = ()  # declared comparisons, "row[:variant]" pairs
    plugins: tuple[str, ...] = ()  # plugin files (absolute paths) and modules, imported by every worker
    table_metrics: tuple[str, ...] = tuple(default("metrics.table"))
    secondary_metrics: tuple[str, ...] = tuple(default("metrics.secondary"))
    robustness: RobustnessSpec | None = None  # None: no perturbed predictions
    figure_formats: tuple[str, ...] = tuple(default("figures.formats"))
    figure_dpi: int = default("figures.dpi")
    source: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    def stability_perturbations(self) -> tuple[Perturbation, ...]:
        """What a runner that measures feature robustness perturbs its training scans with."""
        from cirrbench.benchmark.data.perturbations import DEFAULT_STABILITY

        declared = self.robustness.perturbations if self.robustness is not None else ()
        return declared or DEFAULT_STABILITY


def _as_tuple(value: Any) -> tuple:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


def parse_experiment(raw: dict[str, Any], source: str = "<dict>") -> Experiment:
    """A checked experiment; :class:`ConfigError` lists every problem of the config at once."""
    from cirrbench.benchmark.runners.plugins import PluginError, load_plugin

    plugins = []
    if isinstance(raw, dict) and isinstance(raw.get("plugins"), list):
        base = Path(source).parent if source not in ("<dict>", "") and Path(source).suffix else Path.cwd()
        for item in raw["plugins"]:
            if not isinstance(item, str):
                continue  # reported by check_config
            plugin = str((base / item).resolve()) if item.endswith(".py") and not Path(item).is_absolute() else item
            try:
                load_plugin(plugin)
            except PluginError as exc:
                raise ConfigError(f"{source}: plugins: {exc}") from None
            plugins.append(plugin)
    problems = check_config(raw, source)
    if problems:
        raise ConfigError(problems)
    protocols = []
    for item in raw.get("protocols", [raw["protocol"]] if "protocol" in raw else default("protocols")):
        if isinstance(item, str):
            protocols.append(ProtocolSpec(item))
        else:
            protocols.append(ProtocolSpec(item["name"], {k: v for k, v in item.items() if k != "name"}))
    runners = []
    for item in raw["runners"]:
        item = {"name": item} if isinstance(item, str) else dict(item)
        cls = get_runner(item["name"])
        variants = item.get("variants", default("runners[].variants"))
        variants = tuple(cls.variant_names()) if variants == "all" else _as_tuple(variants)
        runners.append(
            RunnerSpec(
                item["name"],
                item.get("as"),
                dict(item.get("params") or {}),
                variants,
                _as_tuple(item.get("protocols")) or None,
                _as_tuple(_inputs_key(item)) or None,
                int(item["seeds"]) if "seeds" in item else None,
            )
        )
    metrics = raw.get("metrics") or {}
    figures = raw.get("figures") or {}
    families: dict[str, str] = {}
    rows: dict[str, set[str]] = {}
    for spec in runners:
        row = spec.alias or spec.name
        rows.setdefault(row, set()).update(spec.variants)
        families.setdefault(row, get_runner(spec.name).family)
    return Experiment(
        name=str(raw.get("name", Path(source).stem)),
        data=dict(raw.get("data") or {}),
        inputs=tuple(_inputs_key(raw) or default("inputs")),
        protocols=tuple(protocols),
        runners=tuple(runners),
        seed=int(raw.get("seed", default("seed"))),
        n_seeds=int(raw.get("seeds", default("seeds"))),
        main_metric=str(metrics.get("main", default("metrics.main"))),
        table_metrics=tuple(_as_tuple(metrics.get("table", default("metrics.table")))),
        secondary_metrics=tuple(_as_tuple(metrics.get("secondary", default("metrics.secondary")))),
        compare=declared_pairs(raw.get("compare"), families),
        plugins=tuple(plugins),
        bootstrap=int(metrics.get("bootstrap", default("metrics.bootstrap"))),
        reference_runner=raw.get("reference", default("reference")),
        device=str(raw.get("device", default("device"))),
        reproducible=str(raw.get("reproducible", default("reproducible"))),
        reported=tuple(raw.get("reported") or ()),
        robustness=_robustness(raw.get("robustness"), protocols),
        figure_formats=tuple(figures.get("formats", default("figures.formats"))),
        figure_dpi=int(figures.get("dpi", default("figures.dpi"))),
        source=source,
        raw=raw,
    )


def _robustness(raw: Any, protocols: list[ProtocolSpec]) -> RobustnessSpec | None:
    """The checked ``robustness:`` section; None without perturbations."""
    if not raw or not raw.get("perturbations"):
        return None
    keyed = [
        (
            f"robustness.perturbations[{i}].levels[{j}]",
            Perturbation(item["name"], float(level), int(item.get("seed", default("robustness.perturbations[].seed")))),
        )
        for i, item in enumerate(raw["perturbations"])
        for j, level in enumerate(item["levels"])
    ]
    runners = raw.get("runners")
    return RobustnessSpec(
        str(raw.get("protocol") or protocols[0].name),
        tuple(runners) if runners is not None else None,
        tuple(p for _, p in keyed),
        tuple(k for k, _ in keyed),
    )


def declared_pairs(raw: Any, families: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """The comparisons declared before any result exists. Each side is a row name (``as:`` alias
    or runner) with an optional ``:variant``; without ``compare:``, the first radiomics runner
    listed against the first deep runner listed (no choice made after seeing results)."""
    if raw is None:
        first = {
            family: next((r for r, f in families.items() if f == family), None) for family in ("radiomics", "deep")
        }
        return ((first["radiomics"], first["deep"]),) if first["radiomics"] and first["deep"] else ()
    return tuple((a, b) for a, b in raw)


def apply_overrides(raw: dict[str, Any], overrides: list[str] | tuple[str, ...], source: str) -> dict[str, Any]:
    """``--set KEY=VALUE`` on a config: a dotted key, the value read as YAML (``2``, ``1.0e-4``,
    ``[T1W, both]``). In ``runners``, a path element names the runner (or its ``as:`` alias) and
    applies to every entry of it: ``runners.msa.params.epochs=2``."""
    # A JSON round trip copies the config and undoes YAML aliases (``*deep_cpu`` shared by many
    # runners), so an override of one runner never changes another through a shared mapping.
    raw = json.loads(json.dumps(raw, default=str))
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"--set {item!r}: write KEY=VALUE, e.g. --set metrics.bootstrap=500 or --set runners.msa.params.epochs=2"
            )
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            raise ConfigError(f"--set {item!r}: the value {text!r} is not valid YAML") from None
        parts = key.strip().split(".")
        targets: list[Any] = [raw]
        for depth, part in enumerate(parts[:-1]):
            following = []
            for target in targets:
                if isinstance(target, dict):
                    if part == "runners" and isinstance(target.get("runners"), list) and depth == 0:
                        following.append(target["runners"])
                        continue
                    child = target.setdefault(part, {})
                    if not isinstance(child, (dict, list)):
                        raise ConfigError(f"--set {item!r}: {'.'.join(parts[: depth + 1])} is {child!r}, not a mapping")
                    following.append(child)
                elif isinstance(target, list):
                    matched = False
                    for index, entry in enumerate(target):
                        name = (
                            entry
                            if isinstance(entry, str)
                            else (entry.get("as") or entry.get("name"))
                            if isinstance(entry, dict)
                            else None
                        )
                        plain = entry.get("name") if isinstance(entry, dict) else entry
                        if part in (name, plain):
                            if isinstance(entry, str):
                                entry = target[index] = {"name": entry}
                            following.append(entry)
                            matched = True
                    if not matched:
                        names = [
                            e if isinstance(e, str) else e.get("as") or e.get("name")
                            for e in target
                            if isinstance(e, (str, dict))
                        ]
                        raise ConfigError(
                            f"--set {item!r}: no runner {part!r} in runners ({', '.join(dict.fromkeys(map(str, names)))})"
                        )
            targets = following
        for target in targets:
            if not isinstance(target, dict):
                raise ConfigError(f"--set {item!r}: {'.'.join(parts[:-1])} is not a mapping")
            target[parts[-1]] = value
    return raw


def load_experiment(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Experiment:
    """A config file, or the name of a shipped one (``cpu``, ``paper``, ``tiny``), with ``--set``
    overrides applied before the config is checked."""
    path = Path(path)
    if not path.is_file() and (CONFIG_DIR / f"{path.name}.yaml").is_file():
        path = CONFIG_DIR / f"{path.name}.yaml"
    if not path.is_file():
        shipped = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")))
        raise FileNotFoundError(f"{path}: config not found (shipped configs: {shipped})")
    raw = read_yaml(path)
    if overrides and isinstance(raw, dict):
        raw = apply_overrides(raw, overrides, str(path))
    return parse_experiment(raw, str(path))


def read_yaml(path: Path) -> Any:
    """A YAML file through the safe loader; a syntax error is one line with its line and column."""
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        raise ConfigError(
            f"{where}: YAML syntax error: {exc.problem}{' ' + exc.context if exc.context else ''}; fix the file (indentation, a missing colon or bracket)"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: YAML error: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file; a config is YAML text") from None


def _inputs_key(raw: dict) -> Any:
    """``inputs:``, or its former name ``sequences:`` (configs written before the rename)."""
    return raw.get("inputs", raw.get("sequences"))
