"""Spanish to English with attention, by hand: the TensorFlow NMT tutorial's model as graphs.

Two graphs share one set of variable names, so a training checkpoint restores
into the inference graph:

    config = TranslatorConfig(source_vocab_size=len(spa), target_vocab_size=len(eng), units=256)
    model = build_translator_training(config)              # teacher forcing, loss, Adam
    inference = build_translator_inference(config, "spa.txt", "eng.txt")
    inference.model.inputs["sentences"]                    # string [batch]: raw Spanish
    inference.model.outputs["translations"]                # string [batch]: English (beam search)
    inference.signatures["greedy"]                         # the same, greedy

The model (variables under `encoder/` and `decoder/`):
  encoder: embedding [source vocab, E] -> GRU (`encoder/gru`, graphkit.nn.gru) over the
    padded, masked source;
  decoder step: Bahdanau attention of the previous state over the encoder outputs
    (`decoder/attention`, keys projected once per batch), then a GRU (`decoder/gru`)
    whose input is [context, embedding of the previous word] and whose initial state is
    the encoder's final state; logits from a dense layer (`decoder/output`).

Training (`build_translator_training`) feeds the target shifted by one (teacher
forcing) through a `tf.while_loop`; everything that does not depend on the
decoder state is taken out of the loop: the embeddings' part of the GRU gates for
all steps (one matmul), the attention keys, and the output layer over all states
(one [batch * time, units] x [units, vocab] matmul). Loss: cross-entropy masked to
the real target words, summed over each sentence and averaged over the batch as in
the tutorial (reported per word); gradients clipped by global norm; Adam.

Inference (`build_translator_inference`) takes raw strings: in-graph tokenisation
(graphkit.data.text_graph: core `tf.strings` ops and lookup tables over the
vocabulary files, which an export ships as assets), beam search of width k (greedy
is width 1, the same loop) in a `tf.while_loop` until every beam has ended or
`max_target_length` words, then detokenisation. Outputs the English strings and
the attention matrix [batch, target, source] of the chosen beam.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from typing import Optional

import tensorflow as tf

from graphkit.data.text_graph import detokenize, reverse_vocabulary_table, tokenize, vocabulary_table
from graphkit.data.vocabulary import END_ID, PAD_ID, START_ID
from graphkit.errors import ArgumentError
from graphkit.files import atomic_write_text
from graphkit.models.graph_model import GraphModel
from graphkit.nn import layers, losses
from graphkit.nn.attention import AttentionMemory, attention_memory, bahdanau_attention
from graphkit.nn.gru import GRUWeights, gru, gru_cell, gru_weights

v1 = tf.compat.v1

SOURCE_VOCABULARY_FILE = "source_vocabulary.txt"  # asset names: distinct, since assets/ is flat
TARGET_VOCABULARY_FILE = "target_vocabulary.txt"
GREEDY_SIGNATURE = "greedy"
NEGLIGIBLE = -1e9  # log-probability of what a beam may not do; finite, so no inf - inf


@dataclasses.dataclass(frozen=True)
class TranslatorConfig:
    """Sizes and settings of a translator (the tutorial's defaults where it has them).

    Attributes:
      source_vocab_size, target_vocab_size: tokens in each vocabulary file.
      embedding_dim: word embedding size (tutorial: 256).
      units: GRU state size (tutorial: 1024).
      attention_units: size of the additive attention layer (tutorial: = units); 0 means units.
      learning_rate: Adam's (tutorial: 1e-3).
      clip_norm: gradients are scaled so their global norm is at most this.
      max_source_length: ids per tokenised input at inference, <start> and <end>
        included; longer sentences are truncated.
      max_target_length: most words decoded at inference, <end> included.
      beam_width: beams of the default signature (1: greedy).
      length_penalty: beams are ranked by score / length ** length_penalty (0: raw score).
    """

    source_vocab_size: int
    target_vocab_size: int
    embedding_dim: int = 256
    units: int = 1024
    attention_units: int = 0
    learning_rate: float = 1e-3
    clip_norm: float = 5.0
    max_source_length: int = 20
    max_target_length: int = 20
    beam_width: int = 4
    length_penalty: float = 1.0

    def __post_init__(self):
        for field in ("source_vocab_size", "target_vocab_size", "embedding_dim", "units", "beam_width"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ArgumentError(f"TranslatorConfig.{field}: expected an int >= 1, got {value!r}")
        for field in ("max_source_length", "max_target_length"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 2:
                raise ArgumentError(f"TranslatorConfig.{field}: expected an int >= 2, got {value!r}")
        if self.attention_units < 0:
            raise ArgumentError(f"TranslatorConfig.attention_units: expected >= 0, "
                                f"got {self.attention_units}")
        if not self.learning_rate > 0 or not self.clip_norm > 0 or self.length_penalty < 0:
            raise ArgumentError(f"TranslatorConfig: learning_rate and clip_norm must be > 0 and "
                                f"length_penalty >= 0, got {self.learning_rate}, {self.clip_norm}, "
                                f"{self.length_penalty}")
        if self.beam_width > self.target_vocab_size:
            raise ArgumentError(f"TranslatorConfig.beam_width: {self.beam_width} beams need at least as many "
                                f"target words, the vocabulary has {self.target_vocab_size}")

    @property
    def attention_size(self) -> int:
        return self.attention_units or self.units

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True) + "\n"

    def write(self, path: str) -> str:
        """Writes the config as JSON (atomically); returns `path`."""
        return atomic_write_text(path, self.to_json())

    @classmethod
    def read(cls, path: str) -> "TranslatorConfig":
        """Reads a config written by `write`.

        Raises:
          ArgumentError: unreadable file, not JSON, unknown or invalid fields.
        """
        try:
            with open(path, encoding="utf-8") as handle:
                fields = json.load(handle)
        except (OSError, ValueError) as err:
            raise ArgumentError(f"{path}: cannot read a translator config: {err}") from None
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(fields) - known) if isinstance(fields, dict) else ["(not an object)"]
        if unknown:
            raise ArgumentError(f"{path}: unknown translator config fields {unknown}")
        return cls(**fields)


@dataclasses.dataclass(frozen=True)
class DecoderWeights:
    """The decoder's variables, created once, outside any loop.

    Attributes:
      embedding: [target vocab, E] word embeddings.
      gru: the decoder GRU; its kernel's rows are [context (units); embedding (E)].
      context_kernel, embedding_kernel: the two row blocks of gru.kernel.
      output_kernel: [units, target vocab]; output_bias [target vocab].
      state_kernel: [units, 3 * units + attention units]: the GRU's recurrent kernel
        beside the attention's query kernel, so that each step multiplies the previous
        state once for both (both read the same state).
    """

    embedding: tf.Variable
    gru: GRUWeights
    context_kernel: tf.Tensor
    embedding_kernel: tf.Tensor
    output_kernel: tf.Variable
    output_bias: tf.Variable
    state_kernel: tf.Tensor


@dataclasses.dataclass(frozen=True)
class TranslatorInference:
    """The inference graph: `model` holds the default (beam search) signature's
    inputs and outputs, `signatures` the extra ones (key -> (inputs, outputs))."""

    model: GraphModel
    signatures: dict


def encode(source: tf.Tensor, source_length: tf.Tensor, config: TranslatorConfig):
    """The encoder: embeddings, then a GRU over the masked source.

    Args:
      source: int32 [batch, source time] ids, padded with PAD_ID.
      source_length: int32 [batch].
    Returns:
      (outputs [batch, time, units], final state [batch, units]).
    """
    with _top_scope("encoder"):
        embedded = layers.embedding(source, config.source_vocab_size, config.embedding_dim, scope="embedding")
        return gru(embedded, source_length, config.units, scope="gru")


@contextlib.contextmanager
def _top_scope(name: str):
    """The variable and name scope `name/`, the same each time it is entered (a plain
    re-entered variable_scope would put the ops under `name_1/`)."""
    with v1.variable_scope(name, auxiliary_name_scope=False), tf.name_scope(f"{name}/"):
        yield


def decoder(encoder_outputs: tf.Tensor, source_length: tf.Tensor,
            config: TranslatorConfig) -> tuple[DecoderWeights, AttentionMemory]:
    """Creates the decoder's variables under `decoder/` and its attention memory.

    Args:
      encoder_outputs: [batch, source time, units].
      source_length: [batch] real source ids per row.
    Returns:
      (DecoderWeights, AttentionMemory over the encoder outputs).
    """
    with _top_scope("decoder"):
        with v1.variable_scope("embedding"):
            embedding = v1.get_variable("embeddings", [config.target_vocab_size, config.embedding_dim],
                                        initializer=v1.random_uniform_initializer(-0.05, 0.05))
        weights = gru_weights(config.units + config.embedding_dim, config.units, scope="gru")
        memory = attention_memory(encoder_outputs, source_length, config.units, config.attention_size,
                                  scope="attention")
        with v1.variable_scope("output"):
            output_kernel = v1.get_variable("kernel", [config.units, config.target_vocab_size],
                                            initializer=layers.glorot_uniform())
            output_bias = v1.get_variable("bias", [config.target_vocab_size],
                                          initializer=v1.zeros_initializer())
        with tf.name_scope("fused_kernels"):
            # tf.split, not slicing: a slice's gradient is a zero-filled full-size tensor.
            context_kernel, embedding_kernel = tf.split(weights.kernel, [config.units, config.embedding_dim],
                                                        axis=0, name="gru_kernel_blocks")
            state_kernel = tf.concat([weights.recurrent_kernel, memory.query_kernel], axis=1,
                                     name="state_kernel")
    parts = DecoderWeights(embedding, weights, context_kernel, embedding_kernel, output_kernel, output_bias,
                           state_kernel)
    return parts, memory


def _embedding_gates(ids: tf.Tensor, weights: DecoderWeights) -> tf.Tensor:
    """The embeddings' part of the decoder GRU's input gates: [..., 3 * units]."""
    embedded = tf.nn.embedding_lookup(weights.embedding, ids)
    depth = int(weights.embedding.shape[1])
    flat = tf.nn.bias_add(tf.matmul(tf.reshape(embedded, [-1, depth]), weights.embedding_kernel),
                          tf.unstack(weights.gru.bias)[0])
    return tf.reshape(flat, tf.concat([tf.shape(ids), [3 * weights.gru.units]], 0))


def _decoder_step(embedding_gates, state, memory: AttentionMemory, weights: DecoderWeights):
    """One decoder step: attention of `state`, then the GRU. Returns (new state, attention)."""
    gru_product, query_product = tf.split(tf.matmul(state, weights.state_kernel),
                                          [3 * weights.gru.units, -1], axis=1, name="state_products")
    context, attention = bahdanau_attention(state, memory, query_product=query_product)
    gates = embedding_gates + tf.matmul(context, weights.context_kernel)
    return gru_cell(gates, state, weights.gru, state_product=gru_product), attention


def build_translator_training(config: TranslatorConfig, seed: Optional[int] = None) -> GraphModel:
    """The training graph: teacher forcing, masked cross-entropy, clipped Adam.

    Adam minimises the cross-entropy summed over each sentence's words and averaged
    over the batch (the tutorial's weighting); `loss` reports it per word.

    Args:
      config: sizes and settings.
      seed: graph-level seed of the initialisers (None: random).
    Returns:
      a GraphModel with inputs `source` [batch, S] int32 and `source_length` [batch],
      targets `target` [batch, T] int32 ("<start> ... <end>", padded) and
      `target_length` [batch], output `logits` [batch, T - 1, target vocab], the
      loss, train_op, global_step and the metric `token_accuracy`.
    """
    graph = tf.Graph()
    with graph.as_default():
        if seed is not None:
            v1.set_random_seed(seed)
        source = v1.placeholder(tf.int32, [None, None], name="source")
        source_length = v1.placeholder(tf.int32, [None], name="source_length")
        target = v1.placeholder(tf.int32, [None, None], name="target")
        target_length = v1.placeholder(tf.int32, [None], name="target_length")

        encoder_outputs, encoder_state = encode(source, source_length, config)
        weights, memory = decoder(encoder_outputs, source_length, config)
        with tf.name_scope("decoder/teacher_forcing"):
            inputs, labels = target[:, :-1], target[:, 1:]
            steps = tf.shape(inputs)[1]
            gates = tf.transpose(_embedding_gates(inputs, weights), [1, 0, 2], name="time_major_gates")
            gates_per_step = tf.TensorArray(tf.float32, size=steps, name="gates_per_step").unstack(gates)
            states = tf.TensorArray(tf.float32, size=steps, name="states",
                                    element_shape=tf.TensorShape([None, config.units]))

            def step(t, state, states):
                state, _ = _decoder_step(gates_per_step.read(t), state, memory, weights)
                return t + 1, state, states.write(t, state)

            _, _, states = v1.while_loop(lambda t, *_: t < steps, step,
                                         [tf.constant(0), encoder_state, states], name="while")
            states = tf.transpose(states.stack(), [1, 0, 2], name="states")
        with tf.name_scope("decoder/output/"):
            flat = tf.matmul(tf.reshape(states, [-1, config.units]), weights.output_kernel)
            logits_shape = tf.concat([tf.shape(states)[:2], [config.target_vocab_size]], 0)
            logits = tf.reshape(tf.nn.bias_add(flat, weights.output_bias), logits_shape, name="logits")
        mask = tf.sequence_mask(target_length - 1, steps, name="label_mask")
        loss = losses.sparse_softmax_cross_entropy(labels, logits, mask=mask)
        with tf.name_scope("token_accuracy"):
            correct = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels), tf.float32)
            weight = tf.cast(mask, tf.float32)
            token_accuracy = tf.math.divide_no_nan(tf.reduce_sum(correct * weight), tf.reduce_sum(weight),
                                                   name="value")
        with tf.name_scope("objective"):
            # The tutorial's weighting: the loss summed over each sentence's words, averaged
            # over the batch, so every word weighs the same whatever its batch. The per-word
            # mean (`loss`) would give a batch of short sentences the same pull as a batch of
            # long ones, and bucketed batches differ in length: at units 256 on 10,000 pairs
            # it left the validation loss at 2.61 a word after 500 steps, against 2.41.
            sentences = tf.cast(tf.shape(target)[0], tf.float32)
            objective = tf.math.divide_no_nan(loss * tf.reduce_sum(tf.cast(mask, tf.float32)), sentences,
                                              name="sentence_loss")
        global_step = v1.train.get_or_create_global_step()
        with tf.name_scope("train"):
            variables = v1.trainable_variables()
            gradients = tf.gradients(objective, variables)
            clipped, _ = tf.clip_by_global_norm(gradients, config.clip_norm)
            train_op = v1.train.AdamOptimizer(config.learning_rate).apply_gradients(
                zip(clipped, variables), global_step=global_step)
    return GraphModel(graph, inputs={"source": source, "source_length": source_length},
                      outputs={"logits": logits},
                      targets={"target": target, "target_length": target_length},
                      loss=loss, train_op=train_op, metrics={"token_accuracy": token_accuracy},
                      global_step=global_step)


def build_translator_inference(config: TranslatorConfig, source_vocabulary: str,
                               target_vocabulary: str) -> TranslatorInference:
    """The inference graph: raw Spanish strings in, English strings and attention out.

    Args:
      config: sizes and settings (max lengths, beam width).
      source_vocabulary, target_vocabulary: vocabulary files (one token per line);
        they become the SavedModel's assets.
    Returns:
      TranslatorInference: `model.inputs["sentences"]` string [batch]; outputs (beam
      search of config.beam_width): `translations` string [batch], `attention` float32
      [batch, target, source] (rows past a translation's end are 0), `output_length`
      int32 [batch] (words decoded, <end> included), `source_length` int32 [batch]
      (source ids, <start> and <end> included); `signatures["greedy"]`: the same
      outputs by greedy decoding.
    Raises:
      DataError: a vocabulary file that is missing or malformed.
    """
    graph = tf.Graph()
    with graph.as_default():
        sentences = v1.placeholder(tf.string, [None], name="sentences")
        source_table = vocabulary_table(source_vocabulary, name="source_vocabulary")
        target_words = reverse_vocabulary_table(target_vocabulary, name="target_words")
        source, source_length = tokenize(sentences, source_table, config.max_source_length)
        encoder_outputs, encoder_state = encode(source, source_length, config)
        weights, memory = decoder(encoder_outputs, source_length, config)
        outputs = {}
        for key, width in (("beam_search", config.beam_width), (GREEDY_SIGNATURE, 1)):
            with tf.name_scope(f"decoder/{key}/"):
                tokens, attention, length = beam_search(encoder_state, memory, weights, config, width)
                outputs[key] = {"translations": detokenize(tokens, target_words),
                                "attention": tf.identity(attention, name="attention"),
                                "output_length": tf.identity(length, name="output_length"),
                                "source_length": source_length}
    inputs = {"sentences": sentences}
    model = GraphModel(graph, inputs=inputs, outputs=outputs["beam_search"])
    return TranslatorInference(model, {GREEDY_SIGNATURE: (inputs, outputs[GREEDY_SIGNATURE])})


def beam_search(initial_state: tf.Tensor, memory: AttentionMemory, weights: DecoderWeights,
                config: TranslatorConfig, width: int):
    """Beam search in a `tf.while_loop`; width 1 is greedy decoding.

    Each step extends every beam by every word, keeps the `width` best sums of
    log-probabilities per sentence, and carries each kept beam's state, words and
    attention rows along. A beam that has produced <end> stays as it is (it may
    only add <pad> at no cost). The loop ends when every beam has ended or after
    `config.max_target_length` steps; the beam with the best
    score / length ** length_penalty wins.

    Args:
      initial_state: [batch, units] the encoder's final state.
      memory: the attention memory over the encoder outputs [batch, ...].
      weights: the decoder's variables.
      width: beams per sentence.
    Returns:
      (tokens int32 [batch, steps] (<end> included, then <pad>), attention float32
      [batch, steps, source] (0 past the end), length int32 [batch]).
    """
    vocab = config.target_vocab_size
    batch = tf.shape(initial_state)[0]
    source_time = tf.shape(memory.mask)[1]
    tiled = memory.tile(width) if width > 1 else memory
    state = tf.repeat(initial_state, width, axis=0) if width > 1 else initial_state
    first_scores = tf.constant([[0.0] + [NEGLIGIBLE] * (width - 1)])  # one live beam at the start
    scores = tf.tile(first_scores, tf.stack([batch, 1]))
    pad_only = tf.one_hot(PAD_ID, vocab, on_value=0.0, off_value=NEGLIGIBLE)

    def gather_beams(tensor, parents):
        return tf.gather(tensor, parents, batch_dims=1)

    def step(t, tokens, state, scores, finished, lengths, sequences, attention_rows):
        new_state, attention = _decoder_step(_embedding_gates(tokens, weights), state, tiled, weights)
        logits = tf.nn.bias_add(tf.matmul(new_state, weights.output_kernel), weights.output_bias)
        log_probs = tf.reshape(tf.nn.log_softmax(logits), [batch, width, vocab])
        log_probs = tf.where(finished[:, :, None], pad_only, log_probs)
        totals = tf.reshape(scores[:, :, None] + log_probs, [batch, width * vocab])
        scores, choice = tf.math.top_k(totals, k=width, sorted=True, name="top_k")
        parents, words = choice // vocab, choice % vocab
        was_finished = gather_beams(finished, parents)
        state = tf.reshape(gather_beams(tf.reshape(new_state, [batch, width, -1]), parents),
                           [batch * width, config.units])
        sequences = tf.concat([gather_beams(sequences, parents), words[:, :, None]], 2)
        rows = tf.reshape(attention, [batch, width, 1, source_time])
        attention_rows = tf.concat([gather_beams(attention_rows, parents), gather_beams(rows, parents)], 2)
        lengths = gather_beams(lengths, parents) + tf.cast(tf.logical_not(was_finished), tf.int32)
        finished = tf.logical_or(was_finished, tf.equal(words, END_ID))
        return (t + 1, tf.reshape(words, [batch * width]), state, scores, finished, lengths,
                sequences, attention_rows)

    def not_done(t, tokens, state, scores, finished, *_):
        # At least one step, so that an empty batch still gives [0, 1] tokens, not [0, 0].
        running = tf.logical_or(tf.equal(t, 0), tf.logical_not(tf.reduce_all(finished)))
        return tf.logical_and(t < config.max_target_length, running)

    loop_vars = (tf.constant(0), tf.fill([batch * width], START_ID), state, scores,
                 tf.zeros([batch, width], tf.bool), tf.zeros([batch, width], tf.int32),
                 tf.zeros([batch, width, 0], tf.int32), tf.zeros(tf.stack([batch, width, 0, source_time])))
    invariants = (tf.TensorShape([]), tf.TensorShape([None]), tf.TensorShape([None, config.units]),
                  tf.TensorShape([None, width]), tf.TensorShape([None, width]), tf.TensorShape([None, width]),
                  tf.TensorShape([None, width, None]), tf.TensorShape([None, width, None, None]))
    results = v1.while_loop(not_done, step, loop_vars, shape_invariants=invariants, name="while")
    _, _, _, scores, _, lengths, sequences, attention_rows = results
    ranking = scores / tf.pow(tf.cast(tf.maximum(lengths, 1), tf.float32), config.length_penalty)
    best = tf.argmax(ranking, axis=1, output_type=tf.int32)
    tokens = tf.gather(sequences, best, batch_dims=1, name="tokens")
    length = tf.gather(lengths, best, batch_dims=1, name="length")
    valid = tf.sequence_mask(length, tf.shape(tokens)[1], dtype=tf.float32)
    attention = tf.gather(attention_rows, best, batch_dims=1) * valid[:, :, None]
    return tokens, attention, length
