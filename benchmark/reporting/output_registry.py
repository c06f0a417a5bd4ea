"""The report's outputs as a registry: every table family and every figure is one registered builder.

A builder receives a :class:`ReportContext` (the evaluation, row names, settings, protocols, ...)
and returns tables, or the paths of the figures it wrote. The report runs the registered builders
in their declared order; the page groups tables under each family's section title and orders
figures by family; a rebuild deletes files of the registered figure prefixes it did not write.
A plugin file that registers a builder adds a table or a figure; nothing else changes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cirrbench.benchmark.common.registry import Registry

__all__ = [
    "ReportContext",
    "TableFamily",
    "FigureFamily",
    "register_table",
    "register_figure",
    "unregister_output",
    "table_families",
    "figure_families",
]


@dataclass
class ReportContext:
    """What the builders share: computed once per report."""

    out: Path
    store: Any
    settings: Any
    labels: Any
    evaluation: Any
    names: Any
    pairs: list
    protocols: list[str]
    validation: Any
    jobs: list[dict]
    predictions: Any
    table_metrics: list[str]
    secondary_metrics: list[str]
    verdicts: dict = field(
        default_factory=dict
    )  # protocol -> [(declared comparison, Holm p)], for the verdict in words
    figure_cache: Any = None  # FigureCache: unchanged figures of the previous build are kept
    curve_words: list[str] = field(default_factory=list)  # learning curves' crossovers, for the verdict in words
    robustness_words: list[str] = field(default_factory=list)  # which side of each pair degrades less

    def figure(self, stem: str, title: str):
        """Where a figure of this report goes (``figures/<stem>``), titled under the report's banner."""
        from cirrbench.benchmark.common.paths import inside
        from cirrbench.benchmark.reporting.figures import FigureTarget

        return FigureTarget(inside(self.store.figures_dir, stem), title, self.settings.banner, self.figure_cache)


@dataclass(frozen=True)
class TableFamily:
    name: str  # the file prefix (main, paper, verdict, ...)
    section: str  # the page's section title
    order: int
    build: Callable[[ReportContext], list]


@dataclass(frozen=True)
class FigureFamily:
    name: str  # the file prefix (forest, pairwise, ...)
    order: int
    build: Callable[[ReportContext], list[Path]]
    caption: str = ""  # what every figure of the family shows (the page prints it under each)


#: The built-in tables and figures register when this module is imported (page order).
BUILTIN_MODULES = (
    "cirrbench.benchmark.reporting.builtin_outputs",
    "cirrbench.benchmark.reporting.learning_curves",
    "cirrbench.benchmark.reporting.robustness",
)
_TABLES: Registry[TableFamily] = Registry("table family", builtins=BUILTIN_MODULES, defined_by=lambda f: f.build)
_FIGURES: Registry[FigureFamily] = Registry("figure family", builtins=BUILTIN_MODULES, defined_by=lambda f: f.build)


def register_table(name: str, *, section: str, order: int = 50) -> Callable:
    """Decorator of ``build(context) -> list[Table]``: a table family of the report.

    Args:
        name: the file prefix of its tables (``<name>_<protocol>...``).
        section: the report page's section title.
        order: where it runs and appears (built-ins: 10 paper ... 70 ablation).

    Returns:
        The decorator (it returns the builder unchanged).
    """

    def decorate(build: Callable[[ReportContext], list]) -> Callable[[ReportContext], list]:
        _TABLES.register(name, TableFamily(name, section, order, build))
        return build

    return decorate


def register_figure(name: str, *, order: int = 50, per_protocol: bool = False, caption: str = "") -> Callable:
    """Decorator of ``build(context) -> list[Path]``: a figure family of the report.

    Args:
        name: the file prefix of its figures (``<name>_<protocol>...``); the report owns the prefix.
        order: where its figures appear on the page (built-ins: 10 forest ... 60 attention).
        per_protocol: the builder is ``build(context, protocol)``, called for each of the report's
            protocols in turn (most figures are one per protocol).
        caption: what its figures show, printed under each on the report page.

    Returns:
        The decorator (it returns the builder unchanged).
    """

    def decorate(build: Callable[..., list[Path]]) -> Callable[..., list[Path]]:
        @functools.wraps(build)  # the family is defined by the builder (the registry compares it)
        def every_protocol(context: ReportContext) -> list[Path]:
            return [path for protocol in context.protocols for path in build(context, protocol)]

        _FIGURES.register(name, FigureFamily(name, order, every_protocol if per_protocol else build, caption))
        return build

    return decorate


def unregister_output(name: str) -> None:
    """Forget a table or figure family (tests and interactive sessions). Unknown names are ignored."""
    _TABLES.unregister(name)
    _FIGURES.unregister(name)


def table_families() -> list[TableFamily]:
    return sorted(_TABLES.entries().values(), key=lambda family: (family.order, family.name))


def figure_families() -> list[FigureFamily]:
    return sorted(_FIGURES.entries().values(), key=lambda family: (family.order, family.name))
