"""The corpus a translator trains on: a seeded split, vocabularies written as files, ids.

    pairs = load_pairs("../shared/data/spa-eng.zip", limit=30000)
    corpus = prepare_corpus(pairs, "out/translator", validation_fraction=0.2, seed=0)
    config = corpus.config(units=1024, embedding_dim=256)
    # corpus.source_ids / target_ids: the training pairs as ids; corpus.validation: raw pairs

The vocabularies come from the training pairs only (validation words the model
never saw become `<unk>`, as they would in use), and are written as
`source_vocabulary.txt` / `target_vocabulary.txt`: the files the inference graph
reads and an export ships as assets. The maximum lengths are the training
corpus's longest sentences, as in the tutorial.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

from graphkit.data.spa_eng import preprocess, split_pairs
from graphkit.data.vocabulary import Vocabulary, build_vocabulary, encode, write_vocabulary
from graphkit.errors import DataError
from graphkit.models.translator import SOURCE_VOCABULARY_FILE, TARGET_VOCABULARY_FILE, TranslatorConfig


@dataclasses.dataclass(frozen=True)
class TranslatorCorpus:
    """Training and validation pairs, their vocabularies (as files too) and training ids.

    Attributes:
      train, validation: raw (spanish, english) pairs.
      source_vocab, target_vocab: built from the training pairs.
      source_ids, target_ids: the training pairs' ids ("<start> ... <end>").
      source_vocabulary_path, target_vocabulary_path: where the vocabularies were written.
      max_source_length: ids of the longest training source, <start>/<end> included.
      max_target_length: words (and <end>) of the longest training target.
    """

    train: list
    validation: list
    source_vocab: Vocabulary
    target_vocab: Vocabulary
    source_ids: list
    target_ids: list
    source_vocabulary_path: str
    target_vocabulary_path: str
    max_source_length: int
    max_target_length: int

    def config(self, **settings) -> TranslatorConfig:
        """A TranslatorConfig of this corpus's vocabulary sizes and lengths, plus `settings`."""
        fields = {"source_vocab_size": len(self.source_vocab), "target_vocab_size": len(self.target_vocab),
                  "max_source_length": self.max_source_length, "max_target_length": self.max_target_length}
        return TranslatorConfig(**{**fields, **settings})


def prepare_corpus(pairs: Sequence[tuple[str, str]], directory: str, validation_fraction: float = 0.2,
                   seed: int = 0) -> TranslatorCorpus:
    """Splits the pairs, builds and writes the vocabularies, encodes the training pairs.

    Args:
      pairs: raw (spanish, english) pairs (`spa_eng.load_pairs`).
      directory: where the two vocabulary files go (created if needed).
      validation_fraction: the share held out, in [0, 1).
      seed: seeds the split.
    Returns:
      TranslatorCorpus.
    Raises:
      DataError: no training pairs left, or a bad fraction.
    """
    train, validation = split_pairs(pairs, validation_fraction, seed)
    if not train:
        raise DataError(f"prepare_corpus: {len(pairs)} pairs leave no training pairs "
                        f"with validation_fraction {validation_fraction}")
    source = [preprocess(spanish) for spanish, _ in train]
    target = [preprocess(english) for _, english in train]
    source_vocab, target_vocab = build_vocabulary(source), build_vocabulary(target)
    os.makedirs(directory, exist_ok=True)
    source_path = write_vocabulary(source_vocab, os.path.join(directory, SOURCE_VOCABULARY_FILE))
    target_path = write_vocabulary(target_vocab, os.path.join(directory, TARGET_VOCABULARY_FILE))
    source_ids = [encode(source_vocab, sentence) for sentence in source]
    target_ids = [encode(target_vocab, sentence) for sentence in target]
    return TranslatorCorpus(
        train=list(train), validation=list(validation), source_vocab=source_vocab, target_vocab=target_vocab,
        source_ids=source_ids, target_ids=target_ids, source_vocabulary_path=source_path,
        target_vocabulary_path=target_path, max_source_length=max(len(ids) for ids in source_ids),
        max_target_length=max(len(ids) for ids in target_ids) - 1)
