"""Draws a translation's attention matrix as a heatmap (PNG and SVG, with matplotlib).

    view = attention_view(...)                        # graphkit.models.translator_eval
    attention_heatmap(view, "docs/attention.png", "docs/attention.svg")

Source words run along the top, output words down the side, as in the
TensorFlow NMT tutorial's plot; each cell is where that output word looked.
Files are written atomically. matplotlib is imported inside the function
(Agg back end), so importing graphkit.viz needs no matplotlib.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

from graphkit.errors import RenderError
from graphkit.files import atomic_write_bytes


def attention_heatmap(view, png_path: str | None = None, svg_path: str | None = None,
                      title: str | None = None) -> list[str]:
    """Writes the attention of one sentence as a PNG and/or an SVG.

    Args:
      view: an AttentionView (weights [output, source], source_words, output_words).
      png_path, svg_path: where to write each format; None skips it.
      title: drawn above the matrix.
    Returns:
      the paths written.
    Raises:
      RenderError: no path given, weights that do not match the labels, or no matplotlib.
    """
    weights = np.asarray(view.weights, dtype=np.float64)
    if weights.shape != (len(view.output_words), len(view.source_words)):
        raise RenderError(f"attention_heatmap: weights {list(weights.shape)} do not match "
                          f"{len(view.output_words)} output and {len(view.source_words)} source words")
    targets = [(path, kind) for path, kind in ((png_path, "png"), (svg_path, "svg")) if path]
    if not targets:
        raise RenderError("attention_heatmap: give png_path, svg_path or both")
    try:
        import matplotlib
        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError as err:
        raise RenderError(f"attention_heatmap: matplotlib is not installed ({err}); pip install matplotlib") \
            from None
    figure = _draw(pyplot, weights, view.source_words, view.output_words, title)
    written = []
    try:
        for path, kind in targets:
            buffer = io.BytesIO()
            # SVG text stays text (searchable, small), and no date: the same input, the same file.
            with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "graphkit"}):
                figure.savefig(buffer, format=kind, dpi=120, bbox_inches="tight",
                               metadata={"Date": None} if kind == "svg" else None)
            written.append(atomic_write_bytes(path, buffer.getvalue()))
    finally:
        pyplot.close(figure)
    return written


def _draw(pyplot, weights: np.ndarray, source: Sequence[str], output: Sequence[str], title: str | None):
    width = max(3.0, 0.55 * len(source) + 1.5)
    height = max(2.5, 0.45 * len(output) + 1.5)
    figure, axes = pyplot.subplots(figsize=(width, height))
    image = axes.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    axes.set_xticks(range(len(source)), labels=list(source), rotation=90)
    axes.set_yticks(range(len(output)), labels=list(output))
    axes.xaxis.set_ticks_position("top")
    axes.set_xlabel("source (Spanish)")
    axes.xaxis.set_label_position("top")
    axes.set_ylabel("output (English)")
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="attention weight")
    if title:
        axes.set_title(title, pad=12, fontsize=10, loc="left", y=-0.12 if len(output) > 2 else -0.3)
    return figure
