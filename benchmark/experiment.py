"""Experiment configs (YAML, safe-loaded) and the job grid runner x variant x sequence x split x seed."""
from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .layout import SEQUENCES
from .runner import get_runner
from .splits import Split, SplitSet

BOTH = "both"
CONFIG_DIR = Path(__file__).parent / "configs"


class ConfigError(ValueError):
    """A config that cannot be run, with the key that is wrong."""


@dataclass(frozen=True)
class RunnerSpec:
    name: str
    alias: str | None = None  # row name in tables when one runner appears with different parameters
    params: dict[str, Any] = field(default_factory=dict)
    variants: tuple[str, ...] = ("default",)
    protocols: tuple[str, ...] | None = None  # None: every protocol of the experiment
    sequences: tuple[str, ...] | None = None  # None: every sequence the runner supports


@dataclass(frozen=True)
class ProtocolSpec:
    name: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Experiment:
    name: str
    data: dict[str, Any]
    sequences: tuple[str, ...]
    protocols: tuple[ProtocolSpec, ...]
    runners: tuple[RunnerSpec, ...]
    seed: int = 0
    n_seeds: int = 1
    main_metric: str = "accuracy"
    bootstrap: int = 2000
    reference_runner: str = "majority"
    device: str = "auto"
    reported: tuple[dict[str, Any], ...] = ()
    compare: tuple[tuple[str, str], ...] = ()  # declared comparisons, "row[:variant]" pairs
    table_metrics: tuple[str, ...] = ("accuracy", "precision", "recall", "specificity", "f1")
    source: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


KNOWN_KEYS = {"name", "data", "sequences", "protocols", "protocol", "runners", "seed", "seeds", "metrics", "reference", "device", "reported", "dask", "compare"}
METRIC_KEYS = {"main", "bootstrap", "table"}
TABLE_METRICS = ("accuracy", "balanced_accuracy", "precision", "recall", "specificity", "f1", "auc", "qwk", "mae", "ece", "brier")


def _as_tuple(value: Any) -> tuple:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


def parse_experiment(raw: dict[str, Any], source: str = "<dict>") -> Experiment:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the config must be a mapping")
    unknown = sorted(set(raw) - KNOWN_KEYS)
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {unknown}; known: {sorted(KNOWN_KEYS)}")
    sequences = tuple(raw.get("sequences", ["T1W", "T2W"]))
    for s in sequences:
        if s not in (*SEQUENCES, BOTH):
            raise ConfigError(f"{source}: sequence {s!r}; use T1W, T2W or both")
    protocol_items = raw.get("protocols", [raw["protocol"]] if "protocol" in raw else ["official"])
    protocols = []
    for item in protocol_items:
        if isinstance(item, str):
            protocols.append(ProtocolSpec(item))
        elif isinstance(item, dict) and "name" in item:
            protocols.append(ProtocolSpec(item["name"], {k: v for k, v in item.items() if k != "name"}))
        else:
            raise ConfigError(f"{source}: protocols entries are names or mappings with 'name', got {item!r}")
    runners = []
    for item in raw.get("runners", []):
        item = {"name": item} if isinstance(item, str) else dict(item)
        if "name" not in item:
            raise ConfigError(f"{source}: every runner entry needs a 'name'")
        try:
            cls = get_runner(item["name"])
        except KeyError as exc:
            raise ConfigError(f"{source}: {exc.args[0]}") from None
        variants = item.get("variants", ["default"])
        variants = tuple(cls.variant_names()) if variants == "all" else _as_tuple(variants)
        params = dict(item.get("params") or {})
        for variant in variants:
            try:
                cls.make_params(params, variant)
            except (KeyError, TypeError, ValueError) as exc:
                raise ConfigError(f"{source}: runner {item['name']!r}: {exc.args[0]}") from None
        bad = sorted(set(item) - {"name", "as", "params", "variants", "protocols", "sequences"})
        if bad:
            raise ConfigError(f"{source}: runner {item['name']!r}: unknown key(s) {bad}")
        runners.append(
            RunnerSpec(item["name"], item.get("as"), params, variants, _as_tuple(item.get("protocols")) or None, _as_tuple(item.get("sequences")) or None)
        )
    if not runners:
        raise ConfigError(f"{source}: no runners listed")
    metrics = raw.get("metrics") or {}
    if not isinstance(metrics, dict) or set(metrics) - METRIC_KEYS:
        raise ConfigError(f"{source}: metrics: unknown key(s) {sorted(set(metrics) - METRIC_KEYS) if isinstance(metrics, dict) else metrics!r}; known: {sorted(METRIC_KEYS)}")
    main_metric = str(metrics.get("main", "accuracy"))
    table_metrics = tuple(_as_tuple(metrics.get("table", ("accuracy", "precision", "recall", "specificity", "f1"))))
    for key, names in (("metrics.main", (main_metric,)), ("metrics.table", table_metrics)):
        for metric in names:
            if metric not in TABLE_METRICS:
                raise ConfigError(f"{source}: {key}: unknown metric {metric!r}; available: {', '.join(TABLE_METRICS)}")
    compare = _declared_pairs(raw.get("compare"), runners, source)
    return Experiment(
        name=str(raw.get("name", Path(source).stem)),
        data=dict(raw.get("data") or {}),
        sequences=sequences,
        protocols=tuple(protocols),
        runners=tuple(runners),
        seed=int(raw.get("seed", 0)),
        n_seeds=int(raw.get("seeds", 1)),
        main_metric=main_metric,
        table_metrics=table_metrics,
        compare=compare,
        bootstrap=int(metrics.get("bootstrap", 2000)),
        reference_runner=str(raw.get("reference", "majority")),
        device=str(raw.get("device", "auto")),
        reported=tuple(raw.get("reported") or ()),
        source=source,
        raw=raw,
    )


def _declared_pairs(raw: Any, runners: list[RunnerSpec], source: str) -> tuple[tuple[str, str], ...]:
    """The comparisons declared before any result exists. Each side is a row name (``as:`` alias
    or runner) with an optional ``:variant``; without ``compare:``, the first radiomics runner
    listed against the first deep runner listed (no choice made after seeing results)."""
    rows: dict[str, set[str]] = {}
    families: dict[str, str] = {}
    for spec in runners:
        row = spec.alias or spec.name
        rows.setdefault(row, set()).update(spec.variants)
        families.setdefault(row, get_runner(spec.name).family)
    if raw is None:
        first = {family: next((r for r, f in families.items() if f == family), None) for family in ("radiomics", "deep")}
        return ((first["radiomics"], first["deep"]),) if first["radiomics"] and first["deep"] else ()
    if not isinstance(raw, list):
        raise ConfigError(f"{source}: compare: a list of pairs, e.g. [[radiomics-xgboost, msa], [radiomics-xgboost, 'cnn-vgg19']], got {raw!r}")
    pairs = []
    for index, item in enumerate(raw):
        if not (isinstance(item, (list, tuple)) and len(item) == 2 and all(isinstance(x, str) for x in item)):
            raise ConfigError(f"{source}: compare[{index}]: a pair of row names such as [radiomics-xgboost, msa] (optionally msa:no-attention), got {item!r}")
        for side in item:
            row, _, variant = side.partition(":")
            if row not in rows:
                raise ConfigError(f"{source}: compare[{index}]: {row!r} is not a runner of this config; runners: {', '.join(rows)}")
            if variant and variant not in rows[row]:
                raise ConfigError(f"{source}: compare[{index}]: runner {row!r} does not run variant {variant!r} in this config; it runs: {', '.join(sorted(rows[row]))}")
        if item[0] == item[1]:
            raise ConfigError(f"{source}: compare[{index}]: a method compared with itself ({item[0]!r})")
        pairs.append((item[0], item[1]))
    return tuple(pairs)


def load_experiment(path: str | Path) -> Experiment:
    """A config file, or the name of a shipped one (``cpu``, ``paper``, ``tiny``)."""
    path = Path(path)
    if not path.is_file() and (CONFIG_DIR / f"{path.name}.yaml").is_file():
        path = CONFIG_DIR / f"{path.name}.yaml"
    if not path.is_file():
        shipped = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")))
        raise FileNotFoundError(f"{path}: config not found (shipped configs: {shipped})")
    with path.open() as handle:
        raw = yaml.safe_load(handle)
    return parse_experiment(raw, str(path))


# --------------------------------------------------------------------------------------------
# Jobs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    runner: str  # registry name
    variant: str
    params: dict[str, Any]
    sequence: str
    protocol: str
    split_id: str
    split_hash: str
    seed_index: int
    seed: int
    cohort_fingerprint: str
    alias: str = ""  # the name shown in tables; the registry name when empty

    @property
    def display(self) -> str:
        return self.alias or self.runner

    @property
    def label(self) -> str:
        return f"{self.display}:{self.variant}:{self.sequence}:{self.split_id}:s{self.seed_index}"

    @property
    def key(self) -> str:
        """Hash of everything that determines the job's output (and the row name it is filed under)."""
        payload = json.dumps(
            [self.runner, self.variant, self.params, self.sequence, self.split_hash, self.cohort_fingerprint, self.seed] + ([self.alias] if self.alias else []),
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:20]

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "key": self.key, "label": self.label}


def derive_seed(base: int, *axes: Any) -> int:
    """A seed per (split, sequence, replicate), independent of job order: parallel == serial."""
    text = json.dumps([base, *axes], default=str)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little") % (2**31 - 1)


def split_covers(split: Split, sequence: str) -> bool:
    return split.sequences is None or sequence in split.sequences


def build_jobs(experiment: Experiment, split_sets: dict[str, SplitSet], cohort_fingerprint: str, only: str | None = None) -> list[Job]:
    jobs: list[Job] = []
    for spec in experiment.runners:
        cls = get_runner(spec.name)
        for protocol in experiment.protocols:
            if spec.protocols is not None and protocol.name not in spec.protocols:
                continue
            for sequence in experiment.sequences:
                if spec.sequences is not None and sequence not in spec.sequences:
                    continue
                if sequence == BOTH and "both" not in cls.sequences:
                    continue
                for split in split_sets[protocol.name]:
                    if sequence == BOTH and split.sequences is not None:
                        continue  # per-sequence splits (official) cannot hold a two-sequence job
                    if sequence != BOTH and not split_covers(split, sequence):
                        continue
                    for variant in spec.variants:
                        params = dataclasses.asdict(cls.make_params(spec.params, variant))
                        for seed_index in range(experiment.n_seeds):
                            seed = derive_seed(experiment.seed, split.split_id, sequence, seed_index)
                            job = Job(spec.name, variant, params, sequence, protocol.name, split.split_id, split.content_hash(), seed_index, seed, cohort_fingerprint, spec.alias or "")
                            if only is None or fnmatch.fnmatch(job.label, only):
                                jobs.append(job)
    unique = {job.key: job for job in jobs}  # a runner listed twice (e.g. variants under one protocol) runs once
    seen: dict[tuple, dict] = {}
    for job in unique.values():
        row = (job.display, job.variant, job.sequence, job.split_id, job.seed_index)
        if seen.setdefault(row, job.params) != job.params:
            raise ConfigError(f"{experiment.source}: runner {job.display!r} variant {job.variant!r} appears with different parameters; give one of the entries a distinct name with 'as:'")
    return list(unique.values())
