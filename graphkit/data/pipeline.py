"""Model inputs that read batches from data preloaded into the graph, or from feeds.

The fast training path keeps the whole input pipeline inside the graph, in the
"preloaded data" style of TensorFlow's guides: the training arrays are copied
once per `fit` into local (never checkpointed, never exported) variables; each
epoch draws one shuffled order of example indices in-graph; and every training
step slices its indices from that order and gathers its batch, in the same
Session call as the step. No Python and no background thread sits between two
steps. (A `tf.data` iterator with a shuffle buffer and prefetch did the same job
in an earlier version; on 2 cores its thread competed with the step's matmuls,
and the in-step gather made a batch-256 step 10-15% faster.)

Each model input is a `placeholder_with_default` whose default is the next
batch, so training runs with no feed at all, while evaluation, export and C++
callers still feed the same input by name, which cuts the pipeline out of the
step (TensorFlow prunes what a fed tensor depends on).
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Optional, Sequence

import tensorflow as tf

v1 = tf.compat.v1

# name -> (per-example shape, dtype)
Specs = Mapping[str, tuple[Sequence[int], tf.DType]]


@dataclasses.dataclass(frozen=True)
class InGraphPipeline:
    """An input pipeline inside the graph over arrays preloaded into variables.

    Attributes:
      sources: name -> placeholder that receives a whole array ([examples, ...]).
      load: op that copies the fed `sources` into the pipeline's local variables.
      release: op that empties those variables again.
      batch_size: int64 scalar placeholder, fed with `start_epoch`.
      shuffle: bool scalar placeholder, fed with `start_epoch`; False keeps order.
      shuffle_seed: int64 scalar placeholder, fed with `start_epoch`; the same
        seed gives the same order.
      start_epoch: op that draws a new order of the loaded examples and rewinds.
      next: name -> tensor of the next batch (what model inputs default to);
        each evaluation advances one batch.
    """

    sources: Mapping[str, tf.Tensor]
    load: tf.Operation
    release: tf.Operation
    batch_size: tf.Tensor
    shuffle: tf.Tensor
    shuffle_seed: tf.Tensor
    start_epoch: tf.Operation
    next: Mapping[str, tf.Tensor]



def make_pipeline(specs: Specs, seed: Optional[int] = None, scope: str = "input_pipeline") -> InGraphPipeline:
    """Builds the preloaded-data pipeline for arrays named and shaped by `specs`.

    Use: run `load` feeding `sources` with whole arrays [examples, ...]; run
    `start_epoch` (feeding `batch_size`, `shuffle`, `shuffle_seed`) before each
    epoch; then each evaluation of `next` is the following batch, ceil(examples /
    batch_size) of them per epoch, the last one short (no batch spans two
    epochs). Past the end of an epoch, `next` starts over on the same order.
    Run `release` to empty the variables again (their buffers go back to
    TensorFlow's allocator; the process's RSS need not shrink). Evaluating `next`
    with nothing loaded raises InvalidArgumentError naming the pipeline.

    Args:
      specs: name -> (per-example shape, dtype) of each array.
      seed: default shuffle seed.
    """
    with v1.variable_scope(scope):
        sources = {name: v1.placeholder(dtype, [None, *shape], name=f"{name}_source")
                   for name, (shape, dtype) in specs.items()}
        data = {name: _local_variable(f"{name}_data", tf.zeros([0, *shape], dtype), [None, *shape])
                for name, (shape, dtype) in specs.items()}
        order = _local_variable("order", tf.zeros([0], tf.int64), [None])
        position = _local_variable("position", tf.constant(0, tf.int64), [])
        batch_size_value = _local_variable("batch_size_value", tf.constant(1, tf.int64), [])
        indices = _local_variable("indices", tf.zeros([0], tf.int64), [None])

        load = tf.group(*[data[name].assign(sources[name], read_value=False) for name in specs], name="load")
        release = tf.group(*[data[name].assign(tf.zeros([0, *shape], dtype), read_value=False)
                             for name, (shape, dtype) in specs.items()],
                           order.assign(tf.zeros([0], tf.int64), read_value=False),
                           indices.assign(tf.zeros([0], tf.int64), read_value=False), name="release")

        batch_size = v1.placeholder_with_default(tf.constant(32, tf.int64), [], name="batch_size")
        shuffle = v1.placeholder_with_default(True, [], name="shuffle")
        shuffle_seed = v1.placeholder_with_default(tf.constant(seed or 0, tf.int64), [], name="shuffle_seed")
        # VariableShape, not tf.shape: a dense read of a variable that is also
        # gathered from copies all of it (the variable is in copy-on-read mode).
        count = tf.raw_ops.VariableShape(input=next(iter(data.values())).handle, out_type=tf.int64)[0]
        in_order = tf.range(count)
        shuffled = tf.random.experimental.stateless_shuffle(in_order, tf.stack([shuffle_seed, 0]))
        new_order = tf.where(shuffle, shuffled, in_order)
        start_epoch = tf.group(
            order.assign(new_order, read_value=False),
            indices.assign(new_order[:batch_size], read_value=False),
            position.assign(0, read_value=False),
            batch_size_value.assign(batch_size, read_value=False),
            name="start_epoch")

        # A step gathers the batch whose indices the step before it prepared,
        # while it prepares the next ones (the position-th slice of this epoch's
        # order, its end clipped so that the last batch is short). The two run
        # side by side, so the index arithmetic adds no time ahead of the gather.
        current = indices.read_value()
        # A plain Assert on a constant message: tf.debugging.assert_* would wrap
        # it in a tf.cond, and a functional If in the graph slows every step by
        # about 0.3 ms (measured on the hello-world step).
        loaded = tf.debugging.Assert(count > 0, [f"{scope}: no examples loaded: run its load op "
                                                 "(ModelSession.fit does) and start_epoch, or feed the "
                                                 "model inputs"], name="loaded")
        with tf.control_dependencies([current]):
            size = batch_size_value.read_value()
            steps = tf.maximum((count + size - 1) // size, 1)
            start = (position.assign_add(1) % steps) * size
            advance = indices.assign(order[start:start + size], read_value=False)
        batch = {}
        for name in specs:
            gathered = tf.gather(data[name], current)
            with tf.control_dependencies([advance, loaded]):
                batch[name] = tf.identity(gathered, name=f"{name}_batch")
    return InGraphPipeline(sources=sources, load=load, release=release, batch_size=batch_size,
                           shuffle=shuffle, shuffle_seed=shuffle_seed, start_epoch=start_epoch, next=batch)


def _local_variable(name: str, initial: tf.Tensor, shape: Sequence[Optional[int]]) -> tf.Variable:
    """A variable outside checkpoints and exports, whose first dimension may change."""
    return v1.Variable(initial, name=name, trainable=False, shape=tf.TensorShape(shape),
                       validate_shape=False, collections=[v1.GraphKeys.LOCAL_VARIABLES])


def model_inputs(specs: Specs, pipeline: Optional[InGraphPipeline] = None) -> dict[str, tf.Tensor]:
    """One placeholder per spec, named by its key, batch dimension left open.

    With a pipeline, each is a placeholder_with_default over the pipeline's next
    batch, so the model trains from the preloaded data and still accepts feeds.
    """
    inputs = {}
    for name, (shape, dtype) in specs.items():
        full_shape = [None, *shape]
        if pipeline is None:
            inputs[name] = v1.placeholder(dtype, full_shape, name=name)
        else:
            inputs[name] = v1.placeholder_with_default(pipeline.next[name], full_shape, name=name)
    return inputs
