"""BLEU, the attention view and its heatmap: values, files, bad input (no training here)."""

import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest

from graphkit.errors import ArgumentError, RenderError
from graphkit.models.translator_eval import attention_view, corpus_bleu, reference_words
from graphkit.viz.heatmap import attention_heatmap


def test_reference_words_are_preprocessed_without_markers():
    assert reference_words("Is he still at home?") == "is he still at home ?"
    assert reference_words("") == ""


def test_corpus_bleu_values():
    perfect = corpus_bleu(["the cat sees the dog ."], ["the cat sees the dog ."])
    assert perfect.bleu == pytest.approx(100.0) and perfect.brevity_penalty == 1.0
    assert perfect.hypothesis_words == perfect.reference_words == 6 and perfect.sentences == 1
    # 6 of 7 unigrams, 4 of 6 bigrams, 3 of 5 trigrams, 2 of 4 4-grams; longer than the reference: BP 1.
    longer = corpus_bleu(["the big cat sees the dog ."], ["the cat sees the dog ."])
    assert longer.bleu == pytest.approx(100 * (6 / 7 * 4 / 6 * 3 / 5 * 2 / 4) ** 0.25, rel=1e-6)
    assert longer.precisions == pytest.approx((600 / 7, 400 / 6, 60.0, 50.0))
    # Every n-gram matches but one word is missing: BLEU is the brevity penalty exp(1 - 6/5).
    shorter = corpus_bleu(["the cat sees the dog"], ["the cat sees the dog ."])
    assert shorter.bleu == pytest.approx(100 * np.exp(1 - 6 / 5), rel=1e-6)
    assert corpus_bleu(["dog"], ["the cat sees the dog ."]).bleu == 0.0
    with pytest.raises(ArgumentError, match="2 hypotheses for 1 references"):
        corpus_bleu(["a", "b"], ["a"])


def test_attention_view_checks_lengths():
    attention = np.ones((5, 9), np.float32)
    view = attention_view(attention, "¿Todavía está en casa?", "is he home", source_length=8, output_length=4)
    assert view.weights.shape == (4, 8)
    assert view.source_words == ("<start>", "¿", "todavia", "esta", "en", "casa", "?", "<end>")
    assert view.output_words == ("is", "he", "home", "<end>")
    truncated = attention_view(attention, "¿Todavía está en casa?", "is he home", source_length=5,
                               output_length=3, max_source_length=5)
    assert truncated.source_words == ("<start>", "¿", "todavia", "esta", "<end>")
    assert truncated.output_words == ("is", "he", "home")  # ran out of steps: no <end>
    with pytest.raises(ArgumentError, match=r"attention_view: a \[5, 9\] matrix with 6 source ids"):
        attention_view(attention, "¿Todavía está en casa?", "is he home", source_length=6, output_length=4)


def test_heatmap_writes_png_and_svg(tmp_path):
    attention = np.random.default_rng(1).dirichlet(np.ones(8), size=4).astype(np.float32)
    view = attention_view(attention, "¿Todavía está en casa?", "is he home", source_length=8, output_length=4)
    png, svg = attention_heatmap(view, str(tmp_path / "a.png"), str(tmp_path / "a.svg"), title="test")
    with open(png, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    root = ElementTree.parse(svg).getroot()
    assert root.tag.endswith("svg")
    text = open(svg, encoding="utf-8").read()
    for word in ("todavia", "home", "&lt;end&gt;"):
        assert word in text  # labels are text, not glyph paths (svg.fonttype none)
    with pytest.raises(RenderError, match="give png_path, svg_path or both"):
        attention_heatmap(view)
