"""Which importance a feature chart shows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import fresh_python

from cirrbench.benchmark.reporting.figures import FigureTarget, importance_measure, top_features


def frame(permutation, gain) -> pd.DataFrame:
    n = len(gain)
    return pd.DataFrame(
        {
            "input": ["T1W"] * n,
            "feature": [f"original_firstorder_F{i}" for i in range(n)],
            "permutation_mean": permutation,
            "permutation_sd": [0.01] * n,
            "gain_mean": gain,
        }
    )


def test_permutation_importance_is_charted_when_it_moved_anything():
    assert importance_measure(frame([0.0, 0.02, -0.01], [0.3, 0.2, 0.1]))[0] == "permutation_mean"


def test_permutation_that_lowered_nothing_falls_back_to_the_model_importance_and_says_why():
    for permutation in ([0.0, 0.0, 0.0], [0.0, -0.08, 0.0]):
        value, error, label = importance_measure(frame(permutation, [0.3, 0.2, 0.1]))
        assert (value, error) == ("gain_mean", None) and "lowered validation accuracy" in label


def test_nothing_to_chart_without_either_measure(tmp_path):
    rows = frame([np.nan] * 3, [np.nan] * 3)
    assert importance_measure(rows) is None
    paths = top_features(rows, FigureTarget(tmp_path / "top", "learner: top features"))
    assert all(p.stat().st_size > 1000 for p in paths)  # still a figure, with a note instead of bars


def _figure(title: str):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [0, 1])
    ax.set_title(title)
    return fig


def test_figures_rendered_on_workers_are_the_files_rendered_here(tmp_path):
    import os

    import psutil

    from cirrbench.benchmark.reporting.figure_writer import rendering_in_workers, save

    here = save(_figure("a"), tmp_path / "here" / "a")
    before = {p.pid for p in psutil.Process(os.getpid()).children()}  # e.g. an earlier test's pool
    with rendering_in_workers(2):
        queued = save(_figure("a"), tmp_path / "workers" / "a")
        assert [p.name for p in queued] == ["a.png", "a.pdf"]
        workers = [p for p in psutil.Process(os.getpid()).children() if p.pid not in before]
    assert [p.read_bytes() for p in queued] == [p.read_bytes() for p in here]
    assert workers and not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in workers)


def test_svg_figures_are_the_same_bytes_here_on_workers_and_when_drawn_again(tmp_path):
    """SVG ids come from a random salt and the file carries a date unless both are pinned."""
    from cirrbench.benchmark.reporting.figure_writer import FigureFiles, rendering_in_workers, save

    formats = FigureFiles(("svg", "png"))
    with rendering_in_workers(1, formats):
        here = save(_figure("a"), tmp_path / "here" / "a")
        again = save(_figure("a"), tmp_path / "again" / "a")
    with rendering_in_workers(2, formats):
        queued = save(_figure("a"), tmp_path / "workers" / "a")
    assert [p.name for p in here] == ["a.png", "a.svg"]
    assert [p.read_bytes() for p in here] == [p.read_bytes() for p in again] == [p.read_bytes() for p in queued]
    assert [p.name for p in save(_figure("b"), tmp_path / "b")] == ["b.png", "b.pdf"]  # outside: the default


@pytest.mark.parametrize("dpi", [60, 130])
def test_the_png_is_the_one_matplotlib_writes_with_a_tight_box_at_that_resolution(tmp_path, dpi):
    """One layout serves every file, and it is the layout the PNG's own resolution gives: the
    PNG is byte for byte matplotlib's ``savefig(dpi=..., bbox_inches="tight")`` of that figure."""
    from cirrbench.benchmark.reporting.figure_writer import FigureFiles, rendering_in_workers, save

    def figure():  # noqa: ANN202
        fig = _figure("a title long enough to set the width of the tight box")
        fig.set_layout_engine("constrained")
        fig.axes[0].set_ylabel("a label on the left")
        return fig

    direct = tmp_path / "direct.png"
    figure().savefig(direct, dpi=dpi, bbox_inches="tight")
    with rendering_in_workers(1, FigureFiles(("png",), dpi)):
        (png,) = save(figure(), tmp_path / "saved")
    assert png.read_bytes() == direct.read_bytes()


def test_a_figure_that_fails_on_a_worker_fails_the_block(tmp_path):
    from cirrbench.benchmark.reporting.figure_writer import rendering_in_workers, save

    with pytest.raises(ValueError, match="frac"):
        with rendering_in_workers(2):
            save(_figure(r"$\frac$"), tmp_path / "bad")  # mathtext that cannot be laid out
    assert not list(tmp_path.glob("bad*")) and not list(tmp_path.glob(".*tmp-*"))


def test_a_figure_error_reaches_the_block_when_exceptions_pickle_with_their_context(tmp_path):
    """Importing dask's distributed (a run with --dask) installs tblib's exception pickling; when
    that came before pyparsing was imported, mathtext's error pickled with pyparsing's context (local
    functions), the worker died and the block raised BrokenProcessPool instead of the error."""
    pytest.importorskip("tblib")
    code = (
        "import tblib.pickling_support\n"
        "tblib.pickling_support.install()\n"
        "from pathlib import Path\n"
        "import matplotlib.pyplot as plt\n"
        "from cirrbench.benchmark.reporting.figure_writer import rendering_in_workers, save\n"
        "fig, ax = plt.subplots(figsize=(2, 2))\n"
        "ax.set_title(r'$\\frac$')\n"
        "try:\n"
        "    with rendering_in_workers(2):\n"
        f"        save(fig, Path({str(tmp_path)!r}) / 'bad')\n"
        "except Exception as error:\n"
        "    print(type(error).__name__, 'frac' in str(error))\n"
    )
    assert fresh_python(code) == ["ValueError True"]
    assert not list(tmp_path.iterdir())


def test_a_figure_that_cannot_be_pickled_is_drawn_here_the_same_way_with_or_without_workers(tmp_path):
    from matplotlib.ticker import FuncFormatter

    from cirrbench.benchmark.reporting.figure_writer import rendering_in_workers, save

    def odd() -> object:
        fig = _figure("formatter")
        fig.axes[0].xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:.1f}!"))  # a lambda: no pickle
        return fig

    here = save(odd(), tmp_path / "here" / "f")
    with rendering_in_workers(2):
        there = save(odd(), tmp_path / "workers" / "f")
    assert [p.read_bytes() for p in here] == [p.read_bytes() for p in there]
