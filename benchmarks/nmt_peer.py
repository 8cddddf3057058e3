"""The peer of benchmarks/nmt_vs_eager.py: TensorFlow's "NMT with attention" tutorial model.

Written after the TensorFlow 2 tutorial (tensorflow/docs, tutorials/text/
nmt_with_attention): Keras layers in subclassed models, a training step in
`tf.function` with a GradientTape, teacher forcing by a Python loop over the
target's time steps (unrolled when traced), the masked loss, Adam at its defaults.

    encoder = Encoder(source_vocab, embedding_dim, units)
    decoder = Decoder(target_vocab, embedding_dim, units)
    step = make_train_step(encoder, decoder, keras.optimizers.Adam())
    loss = step(source_batch, target_batch)        # int32 [B, S], [B, T], padded with 0

Two changes from the tutorial, so that both sides of the benchmark train the same
model with the same optimizer. First, the tutorial's decoder calls its GRU
without `initial_state`, so the GRU starts from zeros at every step and the
previous state reaches the step only as the attention query; here the GRU starts
from the previous state, as graphkit's decoder does. The work per step is the same either way.

Second, with `dense_gradients=True`, the embeddings' gradients are summed into
dense tensors before Adam sees them. An embedding's gradient is an IndexedSlices
with one row per occurrence of a word, so a word used k times in a batch has k
rows. Keras 3's Adam (3.15 here) squares those rows one by one and adds the
squares to its second moment: for a row it keeps sum(g_i^2), not (sum g_i)^2,
and the first step moves a word seen k times by up to sqrt(k) times the learning
rate instead of once. TensorFlow's own Adam (`tf.compat.v1.train.AdamOptimizer`,
graphkit's), Keras 2's optimizers (the ones the tutorial was written for) and
Adam as published sum the rows first. The tutorial's encoder reads its <pad>
word hundreds of times a batch, unmasked, so this changes what the peer learns.
"""

from __future__ import annotations

import keras
import tensorflow as tf

START_ID = 2  # graphkit.data.vocabulary's ids: 0 <pad>, 1 <unk>, 2 <start>, 3 <end>


class Encoder(keras.Model):
    """Embedding, then a GRU returning every output and the final state."""

    def __init__(self, vocab_size: int, embedding_dim: int, units: int):
        super().__init__()
        self.units = units
        self.embedding = keras.layers.Embedding(vocab_size, embedding_dim)
        self.gru = keras.layers.GRU(units, return_sequences=True, return_state=True,
                                    recurrent_initializer="glorot_uniform")

    def call(self, x, hidden):
        output, state = self.gru(self.embedding(x), initial_state=hidden)
        return output, state


class BahdanauAttention(keras.layers.Layer):
    """score = V tanh(W1 query + W2 values); weights softmax over time; context = sum."""

    def __init__(self, units: int):
        super().__init__()
        self.W1 = keras.layers.Dense(units)
        self.W2 = keras.layers.Dense(units)
        self.V = keras.layers.Dense(1)

    def call(self, query, values):
        score = self.V(tf.nn.tanh(self.W1(tf.expand_dims(query, 1)) + self.W2(values)))
        attention_weights = tf.nn.softmax(score, axis=1)
        context_vector = tf.reduce_sum(attention_weights * values, axis=1)
        return context_vector, attention_weights


class Decoder(keras.Model):
    """One step: attention of the previous state, embedding, GRU, dense to the vocabulary."""

    def __init__(self, vocab_size: int, embedding_dim: int, units: int):
        super().__init__()
        self.units = units
        self.embedding = keras.layers.Embedding(vocab_size, embedding_dim)
        self.gru = keras.layers.GRU(units, return_sequences=True, return_state=True,
                                    recurrent_initializer="glorot_uniform")
        self.fc = keras.layers.Dense(vocab_size)
        self.attention = BahdanauAttention(units)

    def call(self, x, hidden, enc_output):
        context_vector, attention_weights = self.attention(hidden, enc_output)
        x = tf.concat([tf.expand_dims(context_vector, 1), self.embedding(x)], axis=-1)
        output, state = self.gru(x, initial_state=hidden)
        return self.fc(tf.reshape(output, (-1, output.shape[2]))), state, attention_weights


def make_train_step(encoder: Encoder, decoder: Decoder, optimizer, dense_gradients: bool = False):
    """The tutorial's `train_step` as a tf.function: (source [B, S], target [B, T]) -> batch loss.

    Args:
      dense_gradients: sum the embeddings' per-occurrence gradient rows into dense
        tensors before the optimizer (module docstring): Adam as TensorFlow's own
        optimizers compute it. False: as Keras 3 applies an IndexedSlices.
    """
    loss_object = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="none")

    def loss_function(real, pred):
        mask = tf.cast(tf.math.logical_not(tf.math.equal(real, 0)), tf.float32)
        return tf.reduce_mean(loss_object(real, pred) * mask)

    @tf.function
    def train_step(inp, targ):
        loss = 0.0
        batch = tf.shape(inp)[0]
        with tf.GradientTape() as tape:
            enc_output, enc_hidden = encoder(inp, tf.zeros((batch, encoder.units)))
            dec_hidden = enc_hidden
            dec_input = tf.fill((batch, 1), START_ID)
            for t in range(1, targ.shape[1]):  # static: the tutorial pads every target alike
                predictions, dec_hidden, _ = decoder(dec_input, dec_hidden, enc_output)
                loss += loss_function(targ[:, t], predictions)
                dec_input = tf.expand_dims(targ[:, t], 1)
        variables = encoder.trainable_variables + decoder.trainable_variables
        gradients = tape.gradient(loss, variables)
        if dense_gradients:
            gradients = [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in gradients]
        optimizer.apply_gradients(zip(gradients, variables))
        return loss / int(targ.shape[1])

    return train_step


def make_validation_loss(encoder: Encoder, decoder: Decoder):
    """Teacher-forced cross-entropy summed over the real target words, and their count.

    Returns:
      a tf.function (source [B, S], target [B, T]) -> (sum of the losses, words counted):
      the same figure as graphkit's masked loss times its count, so both sides' validation
      loss is one number per word.
    """

    @tf.function
    def validation_loss(inp, targ):
        batch = tf.shape(inp)[0]
        enc_output, dec_hidden = encoder(inp, tf.zeros((batch, encoder.units)))
        dec_input = tf.fill((batch, 1), START_ID)
        total, count = 0.0, 0.0
        for t in range(1, targ.shape[1]):
            predictions, dec_hidden, _ = decoder(dec_input, dec_hidden, enc_output)
            mask = tf.cast(tf.not_equal(targ[:, t], 0), tf.float32)
            losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targ[:, t], logits=predictions)
            total += tf.reduce_sum(losses * mask)
            count += tf.reduce_sum(mask)
            dec_input = tf.expand_dims(targ[:, t], 1)
        return total, count

    return validation_loss


def make_greedy_decoder(encoder: Encoder, decoder: Decoder, max_target_steps: int):
    """The tutorial's `evaluate` for a batch: the most likely word each step, fed back.

    Returns:
      a tf.function (source int32 [n, S]) -> predicted ids int32 [n, max_target_steps];
      each row's words end at its first <end>.
    """

    @tf.function
    def greedy(inp):
        batch = tf.shape(inp)[0]
        enc_out, dec_hidden = encoder(inp, tf.zeros((batch, encoder.units)))
        dec_input = tf.fill((batch, 1), START_ID)
        predicted = []
        for _ in range(max_target_steps):
            predictions, dec_hidden, _ = decoder(dec_input, dec_hidden, enc_out)
            ids = tf.argmax(predictions, axis=-1, output_type=tf.int32)
            predicted.append(ids)
            dec_input = tf.expand_dims(ids, 1)
        return tf.stack(predicted, axis=1)

    return greedy
