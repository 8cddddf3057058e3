"""Scores translations: corpus BLEU-4 (sacrebleu) and the attention matrix of one sentence.

    references = [reference_words(english) for _, english in validation]
    score = corpus_bleu(translations, references)      # BleuScore(bleu=32.2, ...)
    view = attention_view(attention[i], source[i], translations[i], source_length[i], output_length[i])

Arrays in, records out: nothing here opens a session. Hypotheses and references
are both in the tutorial's preprocessed form (lower case, no accents,
punctuation as words of its own), so sacrebleu scores them as they are
(`tokenize="none"`): BLEU over the words the model actually predicts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from graphkit.data.spa_eng import preprocess
from graphkit.data.vocabulary import END, START
from graphkit.errors import ArgumentError


@dataclasses.dataclass(frozen=True)
class BleuScore:
    """Corpus BLEU-4 and its parts (sacrebleu's figures).

    Attributes:
      bleu: 0-100.
      precisions: the 1- to 4-gram precisions, 0-100.
      brevity_penalty: 0-1.
      hypothesis_words, reference_words: words counted on each side.
      sentences: pairs scored.
    """

    bleu: float
    precisions: tuple[float, ...]
    brevity_penalty: float
    hypothesis_words: int
    reference_words: int
    sentences: int


@dataclasses.dataclass(frozen=True)
class AttentionView:
    """One sentence's attention, cut to its real words.

    Attributes:
      weights: [output words, source words] float; row i is where output word i looked.
      source_words: the source's tokens, <start> and <end> included.
      output_words: the translation's words, then <end> when it ended.
    """

    weights: np.ndarray
    source_words: tuple[str, ...]
    output_words: tuple[str, ...]


def reference_words(english: str) -> str:
    """The preprocessed words of a reference sentence, without <start> and <end>."""
    return " ".join(word for word in preprocess(english).split() if word not in (START, END))


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str]) -> BleuScore:
    """Corpus BLEU-4 of preprocessed hypotheses against one preprocessed reference each.

    Raises:
      ArgumentError: the two lists differ in length or are empty.
    """
    if len(hypotheses) != len(references) or not references:
        raise ArgumentError(f"corpus_bleu: {len(hypotheses)} hypotheses for {len(references)} references "
                            "(expected as many, at least one)")
    from sacrebleu.metrics import BLEU  # imported here: only evaluation needs it

    score = BLEU(tokenize="none", force=True).corpus_score(
        [str(text) for text in hypotheses], [[str(text) for text in references]])
    return BleuScore(float(score.score), tuple(float(p) for p in score.precisions), float(score.bp),
                     int(score.sys_len), int(score.ref_len), len(references))


def attention_view(attention: np.ndarray, sentence: str | bytes, translation: str, source_length: int,
                   output_length: int, max_source_length: int | None = None) -> AttentionView:
    """Cuts one sentence's [target, source] attention to its words and labels them.

    Args:
      attention: [steps, source] from the inference graph's `attention` output (one sentence).
      sentence: the raw source sentence.
      translation: the English the graph returned for it.
      source_length: the graph's `source_length` for it (ids, <start>/<end> included).
      output_length: the graph's `output_length` for it (words, <end> included).
      max_source_length: the config's truncation length, to label a truncated source.
    Returns:
      AttentionView.
    Raises:
      ArgumentError: lengths that do not fit the matrix or the words.
    """
    attention = np.asarray(attention)
    words = preprocess(sentence).split()
    if max_source_length is not None and len(words) > max_source_length:
        words = words[:max_source_length - 1] + words[-1:]
    output = translation.split()
    output_words = output + [END] if output_length == len(output) + 1 else output
    if (attention.ndim != 2 or len(words) != source_length or source_length > attention.shape[1]
            or len(output_words) != output_length or output_length > attention.shape[0]):
        raise ArgumentError(f"attention_view: a [{', '.join(map(str, attention.shape))}] matrix with "
                            f"{source_length} source ids ({len(words)} words) and {output_length} output "
                            f"words ({len(output_words)} in the translation) do not fit together")
    return AttentionView(attention[:output_length, :source_length], tuple(words), tuple(output_words))
