"""Batches of id sequences, padded with 0 (`<pad>`) and grouped by length.

    for batch in padded_batches(source_ids, target_ids, batch_size=64, seed=epoch):
        batch["source"]          # int32 [64, S], S = the longest source in this batch
        batch["source_length"]   # int32 [64]
        batch["target"], batch["target_length"]

Bucketing: each epoch shuffles the pairs, cuts the order into windows of
BUCKET_WINDOW batches, sorts each window by length and cuts it into batches, then
shuffles the batches. Pairs of similar length share a batch, so less of each batch
is padding, while which pairs meet still changes from epoch to epoch.

Measured on the first 30,000 pairs of /work/shared/data/spa-eng.zip (preprocessed,
batch 64, one epoch): without bucketing 67.1% of the source cells and 77.4% of the
target cells of the batches are real tokens, with it 97.5% and 92.9%: 208,384
source and 226,544 target cells instead of 302,960 and 271,856, so a model that
loops over each batch's own width runs 1.45x fewer encoder steps and 1.20x fewer
decoder steps. (The tutorial pads every sentence to the corpus's longest, 16 and 11
ids: 480,000 and 330,000 cells.) In time, graphkit's translator at the small size
(10,000 pairs, units 256, batch 64) trained 600 steps and translated 500 sentences
in 107 s with bucketing and 170 s without (one run each, on the shared 2-core
machine under load, so a rough figure); the validation BLEU after those steps was
1.9 and 1.6.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from graphkit.errors import DataError

BUCKET_WINDOW = 32  # batches sorted together; larger windows pad less but mix less
BATCH_KEYS = ("source", "source_length", "target", "target_length")


def pad_ids(sequences: Sequence[Sequence[int]], width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Stacks id sequences into one array padded with 0.

    Args:
      sequences: n lists of ids.
      width: the padded length; None: the longest sequence's.
    Returns:
      (ids int32 [n, width], lengths int32 [n]).
    Raises:
      DataError: a sequence longer than `width`.
    """
    lengths = np.fromiter((len(sequence) for sequence in sequences), dtype=np.int32, count=len(sequences))
    longest = int(lengths.max()) if len(lengths) else 0
    if width is None:
        width = longest
    elif longest > width:
        raise DataError(f"pad_ids: sequence {int(lengths.argmax())} has {longest} ids, "
                        f"more than the width {width}")
    ids = np.zeros((len(sequences), width), dtype=np.int32)
    for row, sequence in enumerate(sequences):
        ids[row, :len(sequence)] = sequence
    return ids, lengths


def padded_batches(source_ids: Sequence[Sequence[int]], target_ids: Sequence[Sequence[int]],
                   batch_size: int, seed: int, bucket: bool = True, drop_remainder: bool = False,
                   source_width: int | None = None, target_width: int | None = None) -> Iterator[dict]:
    """One epoch of shuffled, padded batches.

    Args:
      source_ids, target_ids: the pairs' id sequences, in the same order.
      batch_size: pairs per batch.
      seed: seeds the epoch's order (give each epoch its own seed).
      bucket: group pairs of similar length (module doc); False: plain shuffle.
      drop_remainder: leave out the last, smaller batch.
      source_width, target_width: pad every batch to this width (for graphs with a
        fixed shape); None: to the batch's longest sequence.
    Returns:
      an iterator of dicts with BATCH_KEYS: source int32 [B, S], source_length int32 [B],
      target int32 [B, T], target_length int32 [B].
    Raises:
      DataError: sources and targets of different counts, a batch size below 1, or a
        sequence longer than a width given.
    """
    if len(source_ids) != len(target_ids):
        raise DataError(f"padded_batches: {len(source_ids)} source sequences but "
                        f"{len(target_ids)} target sequences")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise DataError(f"padded_batches: batch_size {batch_size!r} is not a count >= 1")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(source_ids))
    if bucket:
        lengths = np.array([len(source) * 1000 + len(target)
                            for source, target in zip(source_ids, target_ids)], dtype=np.int64)
        window = batch_size * BUCKET_WINDOW
        order = np.concatenate([chunk[np.argsort(lengths[chunk], kind="stable")]
                                for chunk in np.split(order, range(window, len(order), window))]
                               ) if len(order) else order
    batches = [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
    if drop_remainder and batches and len(batches[-1]) < batch_size:
        batches.pop()
    if bucket:
        batches = [batches[index] for index in rng.permutation(len(batches))]
    return _padded(batches, source_ids, target_ids, source_width, target_width)


def _padded(batches, source_ids, target_ids, source_width, target_width) -> Iterator[dict]:
    for indices in batches:
        source, source_length = pad_ids([source_ids[i] for i in indices], source_width)
        target, target_length = pad_ids([target_ids[i] for i in indices], target_width)
        yield {"source": source, "source_length": source_length,
               "target": target, "target_length": target_length}
