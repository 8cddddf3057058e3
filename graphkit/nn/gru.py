"""A GRU from matmuls, and a GRU over time in a `tf.while_loop` over padded batches.

The cell is Keras' GRU with `reset_after=True` (TensorFlow 2's default and the
form cuDNN computes): the reset gate multiplies the *projected* state,

    z = sigmoid(x Wz + bz + h Uz + cz)          update gate
    r = sigmoid(x Wr + br + h Ur + cr)          reset gate
    n = tanh(x Wn + bn + r * (h Un + cn))       candidate
    h' = z * h + (1 - z) * n

with the three gates fused: one `kernel` [input, 3 * units], one
`recurrent_kernel` [units, 3 * units] and one `bias` [2, 3 * units] (row 0 for
the input, row 1 for the state), in Keras' gate order z, r, n, so weights copy
over from a Keras GRU one to one. Because the reset gate acts after the state
matmul, the input part `x W + b` of every step does not depend on the state:
`gru` computes it for all time steps in one matmul before the loop, and each
step does one [batch, units] x [units, 3 * units] matmul.

    outputs, state = gru(embedded, lengths, units=1024, scope="gru")   # encoder/gru/...
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import tensorflow as tf

from graphkit.errors import ArgumentError, DTypeError, ShapeError
from graphkit.nn.layers import _check_rank, _known_dims, glorot_uniform

v1 = tf.compat.v1

GATES = 3  # update, reset, candidate: Keras' order in the fused kernels


@dataclasses.dataclass(frozen=True)
class GRUWeights:
    """The variables of one GRU cell.

    Attributes:
      kernel: [input_depth, 3 * units] input weights of the z, r, n gates.
      recurrent_kernel: [units, 3 * units] state weights of the z, r, n gates.
      bias: [2, 3 * units]: row 0 added to the input part, row 1 to the state part.
    """

    kernel: tf.Variable
    recurrent_kernel: tf.Variable
    bias: tf.Variable

    @property
    def units(self) -> int:
        return int(self.recurrent_kernel.shape[0])


def gru_weights(input_depth: int, units: int, dtype=tf.float32, kernel_initializer=None,
                recurrent_initializer=None, scope: Optional[str] = None) -> GRUWeights:
    """Creates (or reuses, in a reusing scope) the variables of a GRU cell.

    Recurrent weights default to Glorot uniform, as in the TensorFlow NMT
    tutorial (Keras' own default is orthogonal).

    Args:
      input_depth: size of each step's input.
      units: size of the state.
      scope: variable scope; default "gru" (uniquified: gru, gru_1, ...).
    Returns:
      GRUWeights.
    Raises:
      ArgumentError: input_depth or units < 1.
    """
    if input_depth < 1 or units < 1:
        raise ArgumentError(f"gru: input_depth and units must be >= 1, got {input_depth} and {units}")
    with v1.variable_scope(scope, default_name="gru"):
        kernel = v1.get_variable("kernel", [input_depth, GATES * units], dtype,
                                 initializer=kernel_initializer or glorot_uniform())
        recurrent = v1.get_variable("recurrent_kernel", [units, GATES * units], dtype,
                                    initializer=recurrent_initializer or glorot_uniform())
        bias = v1.get_variable("bias", [2, GATES * units], dtype, initializer=v1.zeros_initializer())
    return GRUWeights(kernel, recurrent, bias)


def gru_input_gates(inputs: tf.Tensor, weights: GRUWeights, name: str = "input_gates") -> tf.Tensor:
    """The state-free part of all three gates, x W + b, for inputs of any rank.

    Args:
      inputs: [..., input_depth].
    Returns:
      [..., 3 * units]
    """
    depth = int(weights.kernel.shape[0])
    flat = tf.reshape(inputs, [-1, depth])
    projected = tf.nn.bias_add(tf.matmul(flat, weights.kernel), tf.unstack(weights.bias)[0])
    return tf.reshape(projected, tf.concat([tf.shape(inputs)[:-1], [GATES * weights.units]], 0), name=name)


def gru_cell(input_gates: tf.Tensor, state: tf.Tensor, weights: GRUWeights,
             state_product: Optional[tf.Tensor] = None) -> tf.Tensor:
    """One GRU step from the precomputed input part of the gates.

    Args:
      input_gates: [batch, 3 * units], from `gru_input_gates` (plus any other
        input's projection, e.g. an attention context times its kernel rows).
      state: [batch, units].
      state_product: state @ recurrent_kernel [batch, 3 * units] when the caller
        computed it already (e.g. fused with another matmul of the same state).
    Returns:
      the new state [batch, units].
    """
    units = weights.units
    if state_product is None:
        state_product = tf.matmul(state, weights.recurrent_kernel)
    state_gates = tf.nn.bias_add(state_product, tf.unstack(weights.bias)[1], name="state_gates")
    # tf.split, not slicing: a slice's gradient is a zero-filled full-size tensor plus an AddN.
    input_update_reset, input_candidate = tf.split(input_gates, [2 * units, units], axis=1)
    state_update_reset, state_candidate = tf.split(state_gates, [2 * units, units], axis=1)
    # z and r in one sigmoid over the first 2 * units columns.
    update_reset = tf.sigmoid(input_update_reset + state_update_reset, name="update_reset")
    update, reset = tf.split(update_reset, 2, axis=1)
    candidate = tf.tanh(input_candidate + reset * state_candidate, name="candidate")
    return tf.add(update * (state - candidate), candidate, name="state")  # z h + (1 - z) n


def gru(inputs: tf.Tensor, lengths: tf.Tensor, units: int, initial_state: Optional[tf.Tensor] = None,
        kernel_initializer=None, recurrent_initializer=None,
        scope: Optional[str] = None) -> tuple[tf.Tensor, tf.Tensor]:
    """Runs a GRU over padded, batch-major sequences in a `tf.while_loop`.

    The loop runs max(lengths) steps (at least 1); past its own length a
    sequence's state is frozen and its outputs are zeros, so padding changes nothing.

    Args:
      inputs: [batch, time, depth] float, depth known.
      lengths: [batch] int, the valid steps of each sequence (<= time).
      units: size of the state.
      initial_state: [batch, units], default zeros.
      scope: variable scope; default "gru".
    Returns:
      (outputs [batch, time, units], final state [batch, units]).
    Raises:
      ShapeError: inputs not rank 3 or of unknown depth, lengths not rank 1, an
        initial_state not [batch, units].
      DTypeError: lengths not integers, or inputs not floating point.
      ArgumentError: units < 1.
    """
    with v1.variable_scope(scope, default_name="gru", values=[inputs, lengths]) as vs:
        where = vs.name
        _check_rank(inputs, where, [3])
        (depth,) = _known_dims(inputs, where, [2])
        if not inputs.dtype.is_floating:
            raise DTypeError(f"{where}: inputs {inputs.name} must be floating point, got {inputs.dtype.name}")
        if not lengths.dtype.is_integer:
            raise DTypeError(f"{where}: lengths {lengths.name} must be integers, got {lengths.dtype.name}")
        _check_rank(lengths, where, [1])
        if initial_state is not None and (initial_state.shape.rank != 2
                                          or initial_state.shape[1] not in (None, units)):
            raise ShapeError(f"{where}: initial_state {initial_state.name} must be [batch, {units}], "
                             f"got shape {initial_state.shape}")
        weights = gru_weights(depth, units, inputs.dtype, kernel_initializer, recurrent_initializer,
                              scope=v1.get_variable_scope())
        lengths = tf.cast(lengths, tf.int32, name="lengths")
        batch, time = tf.shape(inputs)[0], tf.shape(inputs)[1]
        # At least one step when there is one: a TensorArray with no element cannot be
        # stacked, so an empty batch (or all lengths 0) runs one step that changes nothing.
        longest = tf.reduce_max(tf.concat([lengths, [1]], 0))
        steps = tf.minimum(time, longest, name="steps")
        gates = tf.transpose(gru_input_gates(inputs, weights), [1, 0, 2], name="time_major_gates")
        gates_per_step = tf.TensorArray(inputs.dtype, size=time, name="gates_per_step").unstack(gates)
        outputs = tf.TensorArray(inputs.dtype, size=steps, name="outputs_per_step",
                                 element_shape=tf.TensorShape([None, units]))
        if initial_state is None:
            initial_state = tf.zeros(tf.stack([batch, units]), inputs.dtype, name="initial_state")

        def step(t, state, outputs):
            new_state = gru_cell(gates_per_step.read(t), state, weights)
            valid = tf.expand_dims(t < lengths, 1, name="valid")
            state = tf.where(valid, new_state, state, name="frozen_state")
            output = tf.where(valid, new_state, tf.zeros_like(new_state), name="output")
            return t + 1, state, outputs.write(t, output)

        _, final_state, outputs = v1.while_loop(
            lambda t, *_: t < steps, step, [tf.constant(0), initial_state, outputs], name="while")
        stacked = tf.transpose(outputs.stack(), [1, 0, 2])
        padded = tf.pad(stacked, [[0, 0], [0, time - steps], [0, 0]])
        outputs = tf.ensure_shape(padded, [inputs.shape[0], inputs.shape[1], units], name="outputs")
        return outputs, tf.identity(final_state, name="final_state")
