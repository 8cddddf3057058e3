"""Trains a translator on padded, bucketed batches and runs its inference graph.

    with ModelSession(build_translator_training(config), checkpoint_dir="out/translator") as ms:
        for report in train_translator(ms, source_ids, target_ids, epochs=10, batch_size=64):
            print(report.epoch, report.loss, report.tokens_per_s)
    inference = build_translator_inference(config, "spa.txt", "eng.txt")
    with open_translator(inference, "out/translator") as ms:
        translate(ms, ["¿Todavía está en casa?"])["translations"]

Each training step is one call of a callable made once (`Session.make_callable`)
with the batch's four arrays as its only feed: nothing else crosses into the
graph per step. The batches come from `graphkit.data.text_batches.padded_batches`,
padded to each batch's own longest sentence, so the while loops run no more
steps than the batch needs.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Optional

import numpy as np
import tensorflow as tf

from graphkit.data.text_batches import padded_batches
from graphkit.errors import CheckpointError, ModelError
from graphkit.models.translator import GREEDY_SIGNATURE, TranslatorInference
from graphkit.runtime.model_session import ModelSession, checkpoint_exists

v1 = tf.compat.v1

BATCH_FEEDS = ("source", "source_length", "target", "target_length")
SIGNATURES = ("beam_search", GREEDY_SIGNATURE)


@dataclasses.dataclass(frozen=True)
class EpochReport:
    """One epoch (or the steps of it that ran) of translator training.

    Attributes:
      epoch: the epoch's number, counted from 1 over resumed runs.
      steps: training steps run.
      loss: mean training loss of those steps.
      seconds: wall time of the steps (batching included).
      target_tokens: target words predicted (each pair's target length - 1, summed).
      tokens_per_s: target_tokens / seconds.
    """

    epoch: int
    steps: int
    loss: float
    seconds: float
    target_tokens: int
    tokens_per_s: float


def train_translator(session: ModelSession, source_ids: Sequence[Sequence[int]],
                     target_ids: Sequence[Sequence[int]], epochs: int, batch_size: int, seed: int = 0,
                     max_steps: Optional[int] = None, bucket: bool = True,
                     on_epoch: Optional[Callable[[EpochReport], None]] = None,
                     checkpoint_every: int = 1) -> list[EpochReport]:
    """Trains until `epochs` epochs are done in total (resumed ones count), or `max_steps` steps.

    Args:
      session: a ModelSession over `build_translator_training`'s model.
      source_ids, target_ids: the training pairs as id lists ("<start> ... <end>").
      epochs: the epoch count to reach.
      batch_size: pairs per step.
      seed: seeds each epoch's order (with the epoch number).
      max_steps: stop after this many steps in this call (the epoch then counts as done).
      bucket: group pairs of similar length in a batch (`padded_batches`).
      on_epoch: called with each epoch's report (e.g. to print it).
      checkpoint_every: write a checkpoint after every this many epochs, and after the last.
    Returns:
      one EpochReport per epoch run now.
    Raises:
      ModelError: the model is not a translator training graph, or bad counts.
    """
    model = session.model
    missing = [name for name in BATCH_FEEDS if name not in model.feedable]
    if missing or model.train_op is None:
        raise ModelError(f"train_translator: the model needs a train_op and the feeds {list(BATCH_FEEDS)}; "
                         f"missing {missing or ['train_op']}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ModelError(f"train_translator: batch_size must be an int >= 1, got {batch_size!r}")
    if max_steps is not None and max_steps < 1:
        raise ModelError(f"train_translator: max_steps must be >= 1, got {max_steps}")
    if checkpoint_every < 1:
        raise ModelError(f"train_translator: checkpoint_every must be >= 1, got {checkpoint_every}")
    run_step = session.session.make_callable([model.train_op, model.loss],
                                             feed_list=[model.feedable[name] for name in BATCH_FEEDS])
    reports, steps_left = [], max_steps
    while session.epoch < epochs and (steps_left is None or steps_left > 0):
        start = time.perf_counter()
        total_loss, steps, tokens = 0.0, 0, 0
        for batch in padded_batches(source_ids, target_ids, batch_size, seed=seed * 1_000_003 + session.epoch,
                                    bucket=bucket):
            total_loss += float(run_step(*(batch[name] for name in BATCH_FEEDS))[1])
            steps += 1
            tokens += int(np.sum(batch["target_length"] - 1))
            if steps_left is not None and steps == steps_left:
                break
        seconds = time.perf_counter() - start
        session.epoch += 1
        if steps_left is not None:
            steps_left -= steps
        report = EpochReport(session.epoch, steps, total_loss / max(steps, 1), seconds, tokens,
                             tokens / seconds if seconds > 0 else 0.0)
        reports.append(report)
        last = session.epoch >= epochs or (steps_left is not None and steps_left <= 0)
        if last or session.epoch % checkpoint_every == 0:
            session.save()
        if on_epoch is not None:
            on_epoch(report)
    return reports


def open_translator(inference: TranslatorInference, checkpoint: str) -> ModelSession:
    """A session over the inference graph with the trained weights and the tables loaded.

    Args:
      inference: from `build_translator_inference`.
      checkpoint: a training checkpoint directory or prefix.
    Returns:
      a ModelSession (close it, or use it in a with-block).
    Raises:
      CheckpointError: no checkpoint there, or one of another model size.
    """
    if not (v1.train.latest_checkpoint(checkpoint) or checkpoint_exists(checkpoint)):
        raise CheckpointError(f"{checkpoint}: no checkpoint found (train the translator first)")
    session = ModelSession(inference.model)
    try:
        session.restore(checkpoint)
        with inference.model.graph.as_default():
            session.session.run(v1.tables_initializer())
    except BaseException:
        session.close()
        raise
    return session


def translate(session: ModelSession, inference: TranslatorInference, sentences: Sequence,
              signature: str = "beam_search") -> Mapping[str, np.ndarray]:
    """Runs one signature of the inference graph on raw sentences.

    Args:
      session: from `open_translator`.
      sentences: str or bytes, any text (bytes need not be UTF-8).
      signature: "beam_search" (the default signature) or "greedy".
    Returns:
      output name -> array: translations (str), attention, output_length, source_length.
    Raises:
      ModelError: an unknown signature.
    """
    if signature not in SIGNATURES:
        raise ModelError(f"translate: signature must be one of {SIGNATURES}, got {signature!r}")
    outputs = inference.model.outputs if signature == "beam_search" else inference.signatures[signature][1]
    feed = {inference.model.inputs["sentences"]: np.array(
        [s if isinstance(s, bytes) else str(s).encode("utf-8") for s in sentences], dtype=object)}
    results = session.session.run(dict(outputs), feed)
    results["translations"] = np.array([t.decode("utf-8") for t in results["translations"]], dtype=object)
    return results


def translate_all(session: ModelSession, inference: TranslatorInference, sentences: Sequence,
                  signature: str = "beam_search", batch_size: int = 128) -> list[str]:
    """The translations of many sentences, `batch_size` at a time (for BLEU).

    Raises:
      ModelError: an unknown signature or a batch size below 1.
    """
    if batch_size < 1:
        raise ModelError(f"translate_all: batch_size must be >= 1, got {batch_size}")
    translations: list[str] = []
    for start in range(0, len(sentences), batch_size):
        batch = sentences[start:start + batch_size]
        translations.extend(translate(session, inference, batch, signature)["translations"])
    return translations
