"""Runs a `GraphModel` in a `tf.compat.v1.Session`: train, evaluate, checkpoint.

    with ModelSession(model, checkpoint_dir="out/ckpt", logdir="out/logs") as ms:
        ms.fit({"x": x_train, "labels": y_train}, epochs=5, batch_size=32)
        print(ms.evaluate({"x": x_test, "labels": y_test}))

A new `ModelSession` on a directory that holds checkpoints resumes from the
latest one: same epoch, same global step, same weights. TensorFlow's Saver
writes the data files first and replaces the `checkpoint` index file
atomically last, so an interrupted save never leaves a corrupt "latest".
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
from typing import Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import config_pb2

from graphkit import constants
from graphkit.errors import CheckpointError, FeedError, ModelError, tf_error_line
from graphkit.models.graph_model import GraphModel
from graphkit.runtime.configs import session_config
from graphkit.runtime.feeds import check_feeds, example_count
from graphkit.tf_private import make_callable_from_options, silence_deprecations

v1 = tf.compat.v1

INPUT_MODES = ("pipeline", "feed")
CHECKPOINT_PREFIX = constants.CHECKPOINT_PREFIX
_EPOCH_SUFFIX = re.compile(r"-(\d+)$")


@dataclasses.dataclass(frozen=True)
class EpochResult:
    """What one training epoch did: mean loss, steps, wall seconds, throughput."""

    epoch: int
    steps: int
    loss: float
    seconds: float
    examples_per_s: float


class ModelSession:
    """A session over one GraphModel with its saver, summary writer and epoch count.

    Args:
      model: the GraphModel to run.
      checkpoint_dir: where each epoch's checkpoint goes; resumed from if it holds one.
      logdir: where TensorBoard event files (graph and scalars) go.
      config: a ConfigProto for the session.
      max_to_keep: checkpoints kept on disk.
    """

    def __init__(self, model: GraphModel, checkpoint_dir: Optional[str] = None,
                 logdir: Optional[str] = None, config: Optional[v1.ConfigProto] = None,
                 max_to_keep: int = 3):
        self.model = model
        self.checkpoint_dir = checkpoint_dir
        with model.graph.as_default():
            self._init_op = v1.global_variables_initializer()
            local_init_op = v1.local_variables_initializer()  # the input pipeline's state
            self._training_on = None
            if model.training is not None and model.train_op is not None:
                # Wired into `training` by the training step (see _training_step);
                # made here so that the graph TensorBoard shows is the one that runs.
                with tf.name_scope("graphkit_runner"):
                    self._training_on = tf.constant(True, name="training_on")
            has_variables = bool(v1.global_variables())
            self._saver = v1.train.Saver(max_to_keep=max_to_keep) if has_variables else None
            self._writer = v1.summary.FileWriter(logdir, graph=model.graph) if logdir else None
        self.session = v1.Session(graph=model.graph, config=config or session_config())
        self.session.run(local_init_op)
        self.epoch = 0
        self.restored_from: Optional[str] = None  # the checkpoint prefix the weights came from
        latest = v1.train.latest_checkpoint(checkpoint_dir) if checkpoint_dir else None
        if latest:
            self.restore(checkpoint_dir)
        else:
            self.session.run(self._init_op)

    # -- life cycle -------------------------------------------------------
    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self.session.close()

    def __enter__(self) -> "ModelSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def global_step(self) -> int:
        if self.model.global_step is None:
            return 0
        return int(self.session.run(self.model.global_step))

    # -- checkpoints ------------------------------------------------------
    def save(self) -> Optional[str]:
        """Writes a checkpoint tagged with the current epoch; returns its prefix."""
        if self._saver is None or not self.checkpoint_dir:
            return None
        os.makedirs(self.checkpoint_dir, exist_ok=True)
        prefix = os.path.join(self.checkpoint_dir, CHECKPOINT_PREFIX)
        # Saver checks for eager mode globally; inside the graph it builds no eager ops.
        # silence: the Saver calls its own deprecated remove_checkpoint for checkpoints past max_to_keep
        with self.model.graph.as_default(), silence_deprecations():
            return self._saver.save(self.session, prefix, global_step=self.epoch, write_meta_graph=True)

    def restore(self, path: str) -> str:
        """Restores weights from a checkpoint prefix or the latest one in a directory.

        Raises:
          CheckpointError: nothing to restore at `path`, or the checkpoint was
            written by a graph with other variables or shapes.
        """
        if self._saver is None:
            raise CheckpointError(f"{path}: the model has no variables to restore")
        prefix = v1.train.latest_checkpoint(path) if os.path.isdir(path) else path
        if not prefix or not checkpoint_exists(prefix):
            raise CheckpointError(f"{path}: no checkpoint found (empty directory or missing files)")
        self._check_checkpoint_matches(prefix)
        try:
            with self.model.graph.as_default():
                self._saver.restore(self.session, prefix)
        except (tf.errors.NotFoundError, tf.errors.InvalidArgumentError) as err:
            raise CheckpointError(f"{prefix}: does not match this graph: {tf_error_line(err)}") from None
        match = _EPOCH_SUFFIX.search(prefix)
        self.epoch = int(match.group(1)) if match else 0
        self.restored_from = prefix
        return prefix

    def _check_checkpoint_matches(self, prefix: str) -> None:
        """Compares variable names and shapes first: resource variables would
        otherwise take a checkpoint value of another shape without complaint."""
        stored = dict(tf.train.list_variables(prefix))
        with self.model.graph.as_default():
            variables = v1.global_variables()
        for variable in variables:
            name = variable.op.name
            if name not in stored:
                raise CheckpointError(f"{prefix}: does not match this graph: variable {name} is missing")
            expected = variable.shape.as_list()
            if list(stored[name]) != expected:
                raise CheckpointError(f"{prefix}: does not match this graph: variable {name} has shape "
                                      f"{list(stored[name])} in the checkpoint, {expected} in the graph")

    # -- running ----------------------------------------------------------
    def run(self, fetches, feeds: Optional[Mapping[str, object]] = None, training: bool = False):
        """Session.run with feeds named by model input/target name and checked first."""
        feed_dict = check_feeds(self.model.feedable, feeds or {}, required=())
        if training and self.model.training is not None:
            feed_dict[self.model.training] = True
        return self.session.run(fetches, feed_dict)

    def fit(self, arrays: Mapping[str, np.ndarray], epochs: int, batch_size: int = 32,
            input_mode: str = "pipeline", shuffle: bool = True, progress: bool = True,
            seed: Optional[int] = None) -> list[EpochResult]:
        """Trains until `epochs` epochs are done in total (resumed ones count).

        Args:
          arrays: name -> [examples, ...] for every model input and target.
          input_mode: "pipeline" copies the arrays once into the model's in-graph
            input pipeline and runs each step with no feed; "feed" slices
            batches in Python and feeds each one.
        Returns:
          one EpochResult per epoch trained now: none when `epochs` are already done
          (a resumed run says so when `progress` is on).
        """
        if input_mode not in INPUT_MODES:
            raise ModelError(f"fit: input_mode must be one of {INPUT_MODES}, got {input_mode!r}")
        if self.model.train_op is None:
            raise ModelError("fit: GraphModel.train_op is None; the model cannot be trained")
        if input_mode == "pipeline" and self.model.pipeline is None:
            raise ModelError("fit: input_mode 'pipeline' needs a model built with an in-graph pipeline")
        if batch_size < 1:
            raise ModelError(f"fit: batch_size must be >= 1, got {batch_size}")
        feed_dict = check_feeds(self.model.feedable, arrays)
        arrays = {name: feed_dict[self.model.feedable[name]] for name in arrays}
        count = example_count(arrays)
        if self.epoch >= epochs:
            if progress:
                resumed = f" (resumed from {self.restored_from})" if self.restored_from else ""
                print(f"fit: nothing left to train: {self.epoch} epoch(s) done of the {epochs} "
                      f"asked for{resumed}")
            return []
        # Seeded by the epoch to start from too: a resumed run draws new orders
        # instead of repeating those of the epochs it already trained.
        rng = np.random.default_rng(None if seed is None else [seed, self.epoch])
        make_epochs = self._pipeline_epochs if input_mode == "pipeline" else self._feed_epochs
        results = []
        try:
            run_epoch = make_epochs(arrays, count, batch_size, shuffle, rng)
            while self.epoch < epochs:
                start = time.perf_counter()
                with self._progress(count, progress) as bar:
                    steps, loss = run_epoch(bar)
                seconds = time.perf_counter() - start
                self.epoch += 1
                result = EpochResult(self.epoch, steps, float(loss), seconds, count / seconds)
                results.append(result)
                self._log_scalars({"loss": result.loss, "examples_per_s": result.examples_per_s})
                self.save()
        finally:
            if input_mode == "pipeline":
                self._release_pipeline()
        return results

    def _release_pipeline(self) -> None:
        """Empties the pipeline's copy of the arrays; never hides the error that ended fit."""
        try:
            self.session.run(self.model.pipeline.release)
        except tf.errors.OpError:
            pass

    def _progress(self, total: int, enabled: bool):
        from tqdm import tqdm
        return tqdm(total=total, unit="ex", unit_scale=True, disable=None if enabled else True,
                    desc=f"epoch {self.epoch + 1}", leave=False)

    def _pipeline_epochs(self, arrays, count, batch_size, shuffle, rng):
        """Copies the arrays into the in-graph pipeline once; returns a function
        that runs one epoch (ceil(count / batch_size) steps) from them."""
        pipeline = self.model.pipeline
        self.session.run(pipeline.load, {pipeline.sources[name]: arrays[name] for name in pipeline.sources})
        step = self._training_step()
        steps_per_epoch = -(-count // batch_size)

        def run_epoch(bar):
            epoch_feed = {pipeline.batch_size: batch_size, pipeline.shuffle: shuffle,
                          pipeline.shuffle_seed: int(rng.integers(2**62))}
            self.session.run(pipeline.start_epoch, epoch_feed)
            total_loss = 0.0
            for index in range(1, steps_per_epoch + 1):
                total_loss += step()[0]
                if index % 50 == 0 or index == steps_per_epoch:
                    bar.update(min(index * batch_size, count) - bar.n)
                    bar.set_postfix(loss=f"{total_loss / index:.4f}", refresh=False)
            return steps_per_epoch, total_loss / steps_per_epoch

        return run_epoch

    def _training_step(self):
        """A callable that runs train_op and returns [loss], with no feed at all.

        `training` is wired to a constant True inside the callable (a
        CallableOptions tensor connection) instead of being fed: feeding even
        one bool costs about 150 us per call on the 2-core development machine,
        against 20 us for a call with no feed, which is several percent of a
        batch-256 step and more of a batch-32 one. The callable also skips
        Session.run's per-call fetch bookkeeping.
        """
        options = config_pb2.CallableOptions()
        options.target.append(self.model.train_op.name)
        options.fetch.append(self.model.loss.name)
        if self._training_on is not None:
            connection = options.tensor_connection.add()
            connection.from_tensor = self._training_on.name
            connection.to_tensor = self.model.training.name
        # Session.make_callable takes no tensor connections; this is the method
        # it is built on (in TensorFlow since 1.x).
        return make_callable_from_options(self.session, options)

    def _feed_epochs(self, arrays, count, batch_size, shuffle, rng):
        """Returns a function that runs one epoch, slicing batches in Python."""
        placeholders = self.model.feedable
        fetches = (self.model.train_op, self.model.loss)

        def run_epoch(bar):
            order = rng.permutation(count) if shuffle else np.arange(count)
            total_loss, steps = 0.0, 0
            for start in range(0, count, batch_size):
                index = order[start:start + batch_size]
                feed = {placeholders[name]: array[index] for name, array in arrays.items()}
                if self.model.training is not None:
                    feed[self.model.training] = True
                total_loss += self.session.run(fetches, feed)[1]
                steps += 1
                bar.update(len(index))
            return steps, total_loss / steps

        return run_epoch

    def evaluate(self, arrays: Mapping[str, np.ndarray], batch_size: int = 1000) -> dict[str, float]:
        """Mean loss and metrics over `arrays`, weighting each batch by its size."""
        fetches = dict(self.model.metrics)
        if self.model.loss is not None:
            fetches["loss"] = self.model.loss
        if not fetches:
            raise ModelError("evaluate: the model has neither a loss nor metrics")
        totals = {name: 0.0 for name in fetches}
        count = 0
        for batch in self._batches(arrays, batch_size):
            values = self.session.run(fetches, batch)
            size = len(next(iter(batch.values())))
            for name, value in values.items():
                totals[name] += float(value) * size
            count += size
        results = {name: total / count for name, total in totals.items()}
        self._log_scalars({f"eval/{name}": value for name, value in results.items()})
        return results

    def predict(self, arrays: Mapping[str, np.ndarray], outputs: Optional[Sequence[str]] = None,
                batch_size: int = 1000) -> dict[str, np.ndarray]:
        """Named outputs for `arrays` (model inputs only), concatenated over batches."""
        names = list(outputs or self.model.outputs)
        missing = [name for name in names if name not in self.model.outputs]
        if missing:
            raise FeedError(f"{missing[0]}: not an output of this model; known: {sorted(self.model.outputs)}")
        fetches = {name: self.model.outputs[name] for name in names}
        parts = [self.session.run(fetches, batch) for batch in self._batches(arrays, batch_size,
                                                                             self.model.inputs)]
        return {name: np.concatenate([part[name] for part in parts]) for name in names}

    def _batches(self, arrays, batch_size, placeholders=None):
        placeholders = placeholders or self.model.feedable
        feed = check_feeds(placeholders, arrays)
        count = example_count(arrays)
        for start in range(0, count, batch_size):
            yield {tensor: value[start:start + batch_size] for tensor, value in feed.items()}

    def _log_scalars(self, scalars: Mapping[str, float]) -> None:
        """Writes scalars as Summary protos, so no summary ops clutter the graph."""
        if self._writer is None:
            return
        summary = v1.Summary(value=[v1.Summary.Value(tag=tag, simple_value=float(value))
                                    for tag, value in scalars.items()])
        with self.model.graph.as_default():  # FileWriter refuses to run eagerly
            self._writer.add_summary(summary, self.global_step)
            self._writer.flush()


def checkpoint_exists(prefix: str) -> bool:
    """Whether a V2 checkpoint's index (or a V1 checkpoint file) is at `prefix`, as TensorFlow's
    deprecated `checkpoint_exists` tells, without its deprecation warning."""
    with silence_deprecations():
        return v1.train.checkpoint_exists(prefix)
