"""``pr.plot.save`` lays a figure out once, for its first format, and draws each format once.

The reference for the files is matplotlib's own way of freezing a layout,
``fig.set_layout_engine("none")`` (a placeholder engine), then ``savefig``: the files must be
those, byte for byte. With the placeholder, ``savefig`` draws the whole figure once more before
drawing it to the file; ``save`` removes the engine instead (restored afterwards), so that each
format is drawn once after the first format's layout pass.
"""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import pytest

import parcours_research as pr
from parcours_research.plot._style import style

META = {"png": {"Software": None}, "svg": {"Date": None}}


def _figure(colorbar: bool = False):
    with style():
        fig, axes = plt.subplots(1, 2, layout="constrained", figsize=(6, 3))
        axes[0].plot([0, 1, 2], [1, 3, 2], label="measured")
        axes[0].set_title("a title long enough to move the layout")
        axes[0].set_ylabel("share of customers")
        axes[0].legend()
        im = axes[1].imshow([[0, 1], [2, 3]])
        axes[1].set_xticks([0, 1], ["first touchpoint", "second touchpoint"], rotation=30)
        if colorbar:
            fig.colorbar(im, ax=axes[1], label="gap")
    return fig


def _reference(fig, stem):
    """The files as matplotlib writes them with its placeholder engine after the first."""
    with style():
        fig.savefig(f"{stem}.png", format="png", dpi=150, metadata=META["png"])
        fig.set_layout_engine("none")
        fig.savefig(f"{stem}.svg", format="svg", dpi=150, metadata=META["svg"])
    return [stem.with_name(f"{stem.name}.{fmt}") for fmt in ("png", "svg")]


@pytest.mark.parametrize("colorbar", [False, True])
def test_files_are_those_of_matplotlibs_frozen_layout(tmp_path, colorbar):
    ours = pr.plot.save(_figure(colorbar), tmp_path / "ours")
    ref = _reference(_figure(colorbar), tmp_path / "ref")
    for a, b in zip(ours, ref, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
    plt.close("all")


def _count_draws(fig) -> list:
    calls = []
    draw = fig.draw

    def counted(renderer):
        calls.append(type(renderer).__name__)
        return draw(renderer)

    fig.draw = counted  # print_figure calls ``self.figure.draw``: the instance's attribute
    return calls


def test_each_format_is_drawn_once_after_the_layout_pass(tmp_path):
    fig = _figure()
    calls = _count_draws(fig)
    pr.plot.save(fig, tmp_path / "f")
    # PNG: the layout pass, then the drawing; SVG: the drawing alone (the placeholder engine
    # of set_layout_engine("none") would add a pass: 4 draws)
    assert calls == ["RendererAgg", "RendererAgg", "MixedModeRenderer"]  # SVG's: mixed mode
    plt.close(fig)


def test_the_layout_engine_is_back_after_saving(tmp_path):
    fig = _figure()
    engine = fig.get_layout_engine()
    pr.plot.save(fig, tmp_path / "f")
    assert fig.get_layout_engine() is engine  # shown later, the figure lays itself out again
    plt.close(fig)


def test_a_users_autolayout_setting_does_not_put_a_layout_back(tmp_path):
    """``set_layout_engine(None)`` follows rc settings: with ``figure.autolayout`` on it would
    put a tight layout in place of none, and the SVG would be laid out anew."""
    with mpl.rc_context({"figure.autolayout": True, "figure.constrained_layout.use": True}):
        fig = _figure()
        calls = _count_draws(fig)
        ours = pr.plot.save(fig, tmp_path / "ours")
    ref = _reference(_figure(), tmp_path / "ref")
    assert len(calls) == 3, calls
    assert ours[1].read_bytes() == ref[1].read_bytes()
    plt.close("all")


def test_a_figure_without_layout_engine_is_drawn_once_per_format(tmp_path):
    with style():
        fig, ax = plt.subplots(layout="none")
        ax.plot([0, 1], [0, 1])
    assert fig.get_layout_engine() is None
    calls = _count_draws(fig)
    pr.plot.save(fig, tmp_path / "f")
    assert len(calls) == 2 and fig.get_layout_engine() is None
    plt.close(fig)
