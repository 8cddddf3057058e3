"""Tokenisation inside the graph: raw strings in, padded ids out, and back.

    table = vocabulary_table("spa.vocab", name="source_vocabulary")    # a SavedModel asset
    ids, lengths = tokenize(sentences, table, max_length=20)         # int32 [batch, 20], [batch]
    english = detokenize(output_ids, reverse_vocabulary_table("eng.vocab", name="target_tokens"))

`tokenize` gives exactly `vocabulary.encode(vocab, spa_eng.preprocess(s), max_length)`
for every string s, and uses only core TensorFlow ops (UnicodeDecode, LowerBound,
UnsortedSegmentJoin, RegexReplace, StringSplitV2, LookupTableFindV2, ...), which the
C++ runtime has; tensorflow-text's ops are not used.

Core TensorFlow has no Unicode normalisation op, so lower case + NFD + dropping
combining marks is done per code point: the graph holds a sorted table, built here
from Python's own `str.lower` and `unicodedata`, of every code point whose image
contains a character the preprocessing keeps (a-z, A-Z, `?.!,¿`), e.g. "É" -> "e",
"Å" -> "a", and every combining mark -> "" (dropped). Every other code point
becomes a space. This equals the string-level steps exactly: `str.lower` maps each
character on its own (its one context rule, Greek final sigma, yields no kept
character either way), and NFD's only string-level step, reordering runs of
combining characters, moves nothing that survives. The table (13,712 entries
with Python 3.11's Unicode 14.0) is frozen into the graph, so an exported model
tokenises the same everywhere, whatever Unicode version the runtime has.

Bytes that are not UTF-8 are decoded with U+FFFD in their place (UnicodeDecode's
errors="replace"), as Python's `bytes.decode("utf-8", errors="replace")` does; both
then become a space, so `tokenize` matches `preprocess(raw_bytes)`.
"""

from __future__ import annotations

import functools
import os
import unicodedata

import numpy as np

from graphkit.data.spa_eng import PUNCTUATION
from graphkit.data.vocabulary import END_ID, PAD_ID, START_ID, UNK, UNK_ID, read_vocabulary
from graphkit.errors import DataError
from graphkit.quiet import import_tensorflow

tf = import_tensorflow()

KEPT_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" + PUNCTUATION)
MAX_CODE_POINT = 0x10FFFF
REPLACEMENT_CHARACTER = 0xFFFD


@functools.lru_cache(maxsize=1)
def character_table() -> tuple[np.ndarray, tuple[str, ...]]:
    """The code points whose preprocessed image is not a lone space, and those images.

    Returns:
      (code points int32 [n] ascending, images): the image of code point c is its
      lower case, NFD-decomposed, without combining marks (category Mn), each
      remaining character not in KEPT_CHARACTERS replaced by a space; "" for marks.
    """
    code_points, images = [], []
    for code_point in range(MAX_CODE_POINT + 1):
        if 0xD800 <= code_point <= 0xDFFF:
            continue  # surrogates: UTF-8 cannot hold them, the decoder never yields them
        char = chr(code_point)
        if (char not in KEPT_CHARACTERS and char.lower() == char and not unicodedata.decomposition(char)
                and unicodedata.category(char) != "Mn" and not 0xAC00 <= code_point <= 0xD7A3):
            continue  # maps to itself and is not kept: a space, the default
        image = "".join(part if part in KEPT_CHARACTERS else " "
                        for part in unicodedata.normalize("NFD", char.lower())
                        if unicodedata.category(part) != "Mn")
        if image != " ":
            code_points.append(code_point)
            images.append(image)
    return np.array(code_points, dtype=np.int32), tuple(images)


def normalize_text(strings, name: str = "normalize_text"):
    """The words of `spa_eng.preprocess`, without <start>/<end>, in the graph.

    Args:
      strings: string tensor [batch] of raw text (UTF-8; invalid bytes -> U+FFFD).
      name: the name scope.
    Returns:
      string tensor [batch]: the kept characters with punctuation spaced, words
      separated by one or more spaces (tokens come from splitting on white space).
    """
    code_points, images = character_table()
    with tf.name_scope(name):
        strings = tf.convert_to_tensor(strings, dtype=tf.string)
        chars = tf.strings.unicode_decode(strings, "UTF-8", errors="replace",
                                          replacement_char=REPLACEMENT_CHARACTER)
        flat = chars.flat_values
        table_keys = tf.constant(code_points, name="code_points")
        table_images = tf.constant(list(images), dtype=tf.string, name="images")
        position = tf.minimum(tf.searchsorted(table_keys, flat, side="left", out_type=tf.int32),
                              len(code_points) - 1)
        found = tf.equal(tf.gather(table_keys, position), flat)
        mapped = tf.where(found, tf.gather(table_images, position), tf.fill(tf.shape(flat), " "))
        joined = tf.strings.unsorted_segment_join(mapped, chars.value_rowids(), chars.nrows())
        return tf.strings.regex_replace(joined, f"([{PUNCTUATION}])", r" \1 ", name="space_punctuation")


def tokenize(strings, table, max_length: int, name: str = "tokenize"):
    """Raw strings to padded ids: preprocess, look up, add <start>/<end>, truncate.

    Args:
      strings: string tensor [batch].
      table: a lookup table string -> int64 over the vocabulary (`vocabulary_table`),
        unknown words -> UNK_ID.
      max_length: ids per row; a longer sentence keeps its first max_length - 2 words
        and still ends with <end>.
      name: the name scope.
    Returns:
      (ids int32 [batch, max_length] padded with PAD_ID, lengths int32 [batch]); an
      empty string gives [<start>, <end>], length 2.
    Raises:
      DataError: max_length below 2.
    """
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 2:
        raise DataError(f"{name}: max_length {max_length!r} leaves no room for <start> and <end> "
                        "(expected an int >= 2)")
    with tf.name_scope(name):
        words = tf.strings.split(normalize_text(strings))
        word_ids = tf.ragged.map_flat_values(lambda keys: tf.cast(table.lookup(keys), tf.int32), words)
        body = word_ids.to_tensor(default_value=PAD_ID, shape=[None, max_length - 2])
        rows = tf.shape(body)[0]
        lengths = tf.minimum(tf.cast(words.row_lengths(), tf.int32), max_length - 2) + 2
        ids = tf.concat([tf.fill([rows, 1], START_ID), body, tf.fill([rows, 1], PAD_ID)], axis=1)
        ids = ids + END_ID * tf.one_hot(lengths - 1, max_length, dtype=tf.int32)
        return tf.identity(ids, name="ids"), tf.identity(lengths, name="lengths")


def vocabulary_table(vocabulary_path, name: str):
    """A table word -> id (int64) read from a vocabulary file; unknown words -> UNK_ID.

    The file is read by a TextFileInitializer when the table is initialised
    (`tf.compat.v1.tables_initializer()`); a path given as a Python string is added
    to the graph's ASSET_FILEPATHS collection, so a SavedModel carries it as an asset.

    Args:
      vocabulary_path: a path (str, checked now with `read_vocabulary`) or a scalar
        string tensor (e.g. an asset's path).
      name: the table's name.
    Returns:
      a tf.lookup.StaticHashTable.
    Raises:
      DataError: a path given as str that is not a valid vocabulary file.
    """
    vocabulary_path = _checked_path(vocabulary_path)
    initializer = tf.lookup.TextFileInitializer(
        vocabulary_path, key_dtype=tf.string, key_index=tf.lookup.TextFileIndex.WHOLE_LINE,
        value_dtype=tf.int64, value_index=tf.lookup.TextFileIndex.LINE_NUMBER, name=f"{name}_init")
    return tf.lookup.StaticHashTable(initializer, default_value=UNK_ID, name=name)


def reverse_vocabulary_table(vocabulary_path, name: str):
    """A table id (int64) -> word read from a vocabulary file; unknown ids -> "<unk>".

    Args and Raises: as `vocabulary_table`.
    Returns:
      a tf.lookup.StaticHashTable.
    """
    vocabulary_path = _checked_path(vocabulary_path)
    initializer = tf.lookup.TextFileInitializer(
        vocabulary_path, key_dtype=tf.int64, key_index=tf.lookup.TextFileIndex.LINE_NUMBER,
        value_dtype=tf.string, value_index=tf.lookup.TextFileIndex.WHOLE_LINE, name=f"{name}_init")
    return tf.lookup.StaticHashTable(initializer, default_value=UNK, name=name)


def detokenize(ids, tokens, name: str = "detokenize"):
    """Ids to sentences: the words up to the first <end>, without <start> and <pad>.

    Args:
      ids: integer tensor [..., time].
      tokens: a table id (int64) -> word (`reverse_vocabulary_table`), or a string
        tensor [vocabulary size] of the tokens by id.
      name: the name scope.
    Returns:
      string tensor [...]: the words joined by single spaces, as `vocabulary.decode`.
    """
    with tf.name_scope(name):
        ids = tf.convert_to_tensor(ids)
        leading = tf.shape(ids)[:-1]
        rows = tf.reshape(ids, [-1, tf.shape(ids)[-1]])
        if hasattr(tokens, "lookup"):  # a lookup table (StaticHashTable or another kind)
            words = tokens.lookup(tf.cast(rows, tf.int64))
        else:
            words = tf.gather(tf.convert_to_tensor(tokens, dtype=tf.string), rows)
        before_end = tf.equal(tf.cumsum(tf.cast(tf.equal(rows, END_ID), tf.int32), axis=1), 0)
        keep = before_end & tf.not_equal(rows, PAD_ID) & tf.not_equal(rows, START_ID)
        row_of_word = tf.cast(tf.where(keep)[:, 0], tf.int32)
        joined = tf.strings.unsorted_segment_join(tf.boolean_mask(words, keep), row_of_word,
                                                  tf.shape(rows)[0], separator=" ")
        return tf.reshape(joined, leading, name="sentences")


def _checked_path(vocabulary_path):
    if isinstance(vocabulary_path, (str, os.PathLike)):
        vocabulary_path = os.fspath(vocabulary_path)
        read_vocabulary(vocabulary_path)  # a bad file fails here, with its line, not at run time
    return vocabulary_path
