"""Figure files rendered on worker processes while the report goes on building, in the formats
and resolution the config asks for (``figures.formats``: the PNG always, for the page; PDF by
default; SVG. ``figures.dpi``: the PNG's pixels per inch).

Laying a figure out and rendering it twice (PNG and PDF) is most of a report's time, and every
figure renders on its own. Inside :func:`rendering_in_workers`, :func:`save` hands each finished
figure, pickled, to a worker process and returns the paths its files will have, so the report
builds its next table or figure while the last one renders; the block ends once every file is
written. A worker lays out and draws every file of its unpickled copy, as this process
does with the figure itself, so the report is byte-identical whatever ``jobs`` is (a test rebuilds
a report on workers and compares every file), and a figure that fails to render fails the report
as it would here. A figure that cannot be pickled (a plugin's lambda formatter) is drawn here.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cirrbench.benchmark.common.config_keys import DEFAULT_FIGURE_FORMATS, default

__all__ = ["FigureFiles", "rendering_in_workers", "save"]


@dataclass(frozen=True)
class FigureFiles:
    """Which files a figure becomes: ``formats`` (the PNG first, whatever the order given) and
    the PNG's pixels per inch (layout and text extents follow it, so it is part of a figure's key)."""

    formats: tuple[str, ...] = DEFAULT_FIGURE_FORMATS
    dpi: int = default("figures.dpi")

    def __post_init__(self) -> None:
        object.__setattr__(self, "formats", ("png", *(f for f in dict.fromkeys(self.formats) if f != "png")))


_POOL: Any = None  # the block's process pool
_PENDING: list[Any] = []  # its figures' futures
_FILES = FigureFiles()  # the files of figures saved now


@contextmanager
def rendering_in_workers(jobs: int, files: FigureFiles | None = None) -> Iterator[None]:
    """Figures saved inside the block become ``files`` (default: PNG and PDF at the default
    resolution) and render on ``jobs`` worker processes while the block goes on (``jobs`` 1:
    here, at once, as outside the block); the block ends when every file is written, and raises
    the first figure's error, if any."""
    global _POOL, _PENDING, _FILES
    outer = _FILES
    _FILES = files or FigureFiles()
    try:
        if jobs <= 1 or _POOL is not None:
            yield
            return
        from cirrbench.benchmark.common.processes import forked_pool

        pool = forked_pool(jobs)  # forked workers start with matplotlib loaded
        _POOL, _PENDING = pool, []
        try:
            yield
            for future in _PENDING:
                future.result()
        finally:
            _POOL, _PENDING = None, []
            pool.shutdown(wait=True, cancel_futures=True)
    finally:
        _FILES = outer


def save(fig: Any, stem: Path) -> list[Path]:
    """``stem``.png and ``stem``.pdf of ``fig`` (inside :func:`rendering_in_workers`, its files):
    written now, or with several jobs, on a worker (the paths are returned either way)."""
    import matplotlib.pyplot as plt

    blob = _pickled(fig) if _POOL is not None else None
    if blob is None:
        return _write_files(fig, stem, _FILES)
    _PENDING.append(_POOL.submit(_render, blob, stem, _FILES))
    plt.close(fig)
    return [stem.with_name(f"{stem.name}.{suffix}") for suffix in _FILES.formats]


def _write_files(fig: Any, stem: Path, files: FigureFiles) -> list[Path]:
    """The PNG, then the other formats, of one figure object, all from one layout (:func:`_lay_out`)."""
    import matplotlib.pyplot as plt

    area = _lay_out(fig, files.dpi)
    paths = [_write_file(fig, stem, suffix, area, files.dpi) for suffix in files.formats]
    plt.close(fig)
    return paths


def _lay_out(fig: Any, dpi: int) -> Any:
    """Run ``fig``'s layout engine once, as ``savefig(bbox_inches="tight")`` does for the PNG, and
    return the tight area (inches) that both files then show. The engine is removed afterwards:
    otherwise each ``savefig`` lays the figure out and draws it twice (the PDF from its own
    layout, a few points off the PNG's), which made a report's figures a fifth slower. The PNG
    keeps its bytes; the PDF now shows the PNG's layout."""
    from matplotlib import rc_context, rcParams
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    own_dpi, canvas = fig.dpi, fig.canvas
    try:
        fig.dpi = dpi  # the PNG's: the layout and text extents of the file the page shows
        agg = FigureCanvasAgg(fig)  # the PNG's renderer: the same text extents
        fig.draw_without_rendering()
        area = fig.get_tightbbox(agg.get_renderer()).padded(rcParams["savefig.pad_inches"])
    finally:
        fig.dpi = own_dpi
        fig.set_canvas(canvas)
    with rc_context({"figure.autolayout": False, "figure.constrained_layout.use": False}):
        fig.set_layout_engine(None)  # None under these settings: no engine at all
    return area


def _write_file(fig: Any, stem: Path, suffix: str, area: Any, dpi: int) -> Path:
    """One file, written under a temporary name and renamed into place (a full disk or a kill
    never leaves half a figure under its final name)."""
    from matplotlib import rc_context

    from cirrbench.benchmark.common.atomic import replacing

    stem.parent.mkdir(parents=True, exist_ok=True)
    path = stem.with_name(f"{stem.name}.{suffix}")
    # No dates in the vector files and SVG ids from a fixed salt: the same predictions give
    # byte-identical figures.
    metadata = {"pdf": {"CreationDate": None}, "svg": {"Date": None}}.get(suffix)
    with replacing(path) as tmp, rc_context({"svg.hashsalt": "cirrbench"}):
        fig.savefig(tmp, dpi=dpi, bbox_inches=area, metadata=metadata, format=suffix)
    return path


def _render(blob: bytes, stem: Path, files: FigureFiles) -> None:
    import matplotlib

    matplotlib.use("Agg")
    try:
        _write_files(pickle.loads(blob), stem, files)
        return
    except Exception as error:  # any figure's error goes back to the block
        failure = _sendable(error)
    raise failure


def _sendable(error: Exception) -> Exception:
    """``error`` as the block's process can receive it. Once a library has installed tblib's
    exception pickling (``distributed`` does on import), an exception pickles with its context;
    mathtext's error keeps pyparsing's, which holds local functions, so the worker died and the
    block saw a broken pool instead of the figure's error. The context is the worker's own
    business: the error goes back without it, or as a RuntimeError naming it when even that fails."""
    error.__cause__ = error.__context__ = None
    try:
        pickle.dumps(error)
    except Exception:  # whatever pickling raises, send what can be sent
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error


class _FigurePickler(pickle.Pickler):
    """Matplotlib pickles each transform's links to the transforms that depend on it keyed by
    the objects' ids in this process, and an unpickled transform keeps those keys. A transform
    created on the worker whose id equals a stale key replaces that entry, so the dependent it
    named stops hearing of changes: a PDF drawn after the PNG then kept a clip box in the PNG's
    pixels, now and then. Each transform is restored with its links keyed by the new ids."""

    def reducer_override(self, obj: Any) -> Any:
        from matplotlib.transforms import TransformNode

        if not isinstance(obj, TransformNode):
            return NotImplemented
        reduced: tuple = tuple(obj.__reduce_ex__(pickle.DEFAULT_PROTOCOL))
        rebuild, args, state, *rest = reduced + (None,) * (5 - len(reduced))
        return rebuild, args, state, rest[0], rest[1], _restore_transform


def _restore_transform(node: Any, state: dict) -> None:
    import weakref

    node.__dict__.update(state)
    links: dict[int, Any] = {}

    def forget(key: int) -> Any:
        return lambda _: links.pop(key, None)

    for parent in state["_parents"].values():
        if parent is not None:
            links[id(parent)] = weakref.ref(parent, forget(id(parent)))
    node._parents = links


def _pickled(fig: Any) -> bytes | None:
    import io

    buffer = io.BytesIO()
    try:
        _FigurePickler(buffer, pickle.DEFAULT_PROTOCOL).dump(fig)
    except Exception:  # a plugin's figure with an unpicklable part (a lambda formatter): drawn here
        return None
    return buffer.getvalue()
