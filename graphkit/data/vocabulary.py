"""Word vocabularies: built from preprocessed sentences, written as files, ids in and out.

    vocab = build_vocabulary(["<start> hola . <end>", "<start> hola mundo <end>"])
    vocab.tokens        # ('<pad>', '<unk>', '<start>', '<end>', 'hola', '.', 'mundo')
    encode(vocab, "<start> hola gato <end>")   # [2, 4, 1, 3]
    decode(vocab, [2, 4, 6, 3, 0])             # 'hola mundo'

The first four ids are fixed: 0 `<pad>` (so zero-padded batches need no other
value), 1 `<unk>`, 2 `<start>`, 3 `<end>`. The other words follow by descending
count, ties in alphabetical order, so a corpus always gives the same file.
A vocabulary file holds one token per line, line n being id n: the form a
`tf.lookup.TextFileInitializer` reads (graphkit.data.text_graph).
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Iterable, Mapping, Sequence

from graphkit.errors import DataError
from graphkit.files import atomic_write_text

PAD, UNK, START, END = "<pad>", "<unk>", "<start>", "<end>"
RESERVED_TOKENS = (PAD, UNK, START, END)
PAD_ID, UNK_ID, START_ID, END_ID = range(len(RESERVED_TOKENS))


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    """Tokens by id; `tokens[i]` is the word of id i, the reserved four first.

    Attributes:
      tokens: every token once, starting with RESERVED_TOKENS.
      ids: token -> id (derived from `tokens`).
    """

    tokens: tuple[str, ...]
    ids: Mapping[str, int] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self):
        tokens = tuple(self.tokens)
        if tokens[:len(RESERVED_TOKENS)] != RESERVED_TOKENS:
            raise DataError(f"vocabulary: starts with {list(tokens[:len(RESERVED_TOKENS)])}, "
                            f"expected {list(RESERVED_TOKENS)}")
        ids = {}
        for index, token in enumerate(tokens):
            _check_token(token, f"vocabulary token {index}")
            if token in ids:
                raise DataError(f"vocabulary token {index}: {token!r} already has id {ids[token]}")
            ids[token] = index
        object.__setattr__(self, "tokens", tokens)
        object.__setattr__(self, "ids", ids)

    def __len__(self) -> int:
        return len(self.tokens)


def build_vocabulary(sentences: Iterable[str], max_size: int | None = None) -> Vocabulary:
    """Counts the words of preprocessed sentences and orders them by count, then alphabetically.

    Args:
      sentences: preprocessed sentences (words separated by white space, as
        `spa_eng.preprocess` returns them); the reserved tokens in them are not counted.
      max_size: the most tokens, the four reserved ones included; the rarest words
        beyond it are left out (they encode as `<unk>`). None: every word.
    Returns:
      a Vocabulary.
    Raises:
      DataError: max_size below the four reserved tokens.
    """
    if max_size is not None and max_size < len(RESERVED_TOKENS):
        raise DataError(f"build_vocabulary: max_size {max_size} leaves no room for the "
                        f"{len(RESERVED_TOKENS)} reserved tokens {list(RESERVED_TOKENS)}")
    counts = collections.Counter(word for sentence in sentences for word in sentence.split())
    for token in RESERVED_TOKENS:
        counts.pop(token, None)
    words = sorted(counts, key=lambda word: (-counts[word], word))
    if max_size is not None:
        words = words[:max_size - len(RESERVED_TOKENS)]
    return Vocabulary(RESERVED_TOKENS + tuple(words))


def write_vocabulary(vocab: Vocabulary, path: str) -> str:
    """Writes one token per line (line n = id n), atomically; returns `path`."""
    return atomic_write_text(path, "".join(f"{token}\n" for token in vocab.tokens))


def read_vocabulary(path: str) -> Vocabulary:
    """Reads a file written by `write_vocabulary`.

    Raises:
      DataError: unreadable or not UTF-8; an empty line, a token with white space, a
        repeated token, or a file not starting with the reserved tokens (the message
        names the file and the line).
    """
    try:
        with open(path, encoding="utf-8", newline="\n") as handle:
            lines = handle.read().split("\n")
    except OSError as err:
        raise DataError(f"{path}: cannot read vocabulary ({err.strerror or err})") from err
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: vocabulary is not UTF-8 ({err.reason} at byte {err.start})") from err
    if lines and lines[-1] == "":
        lines.pop()
    for number, token in enumerate(lines, start=1):
        _check_token(token, f"{path}:{number}")
    try:
        return Vocabulary(tuple(lines))
    except DataError as err:
        raise DataError(f"{path}: {err}") from err


def encode(vocab: Vocabulary, sentence: str, max_length: int | None = None) -> list[int]:
    """Ids of a preprocessed sentence's words; unknown words get UNK_ID.

    Args:
      vocab: the vocabulary.
      sentence: a preprocessed sentence ("<start> ... <end>").
      max_length: when the sentence has more words, it keeps its first
        max_length - 1 ids and its last one (the `<end>`). None: no limit.
    Returns:
      the ids, at most max_length of them.
    Raises:
      DataError: max_length below 2 (no room for <start> and <end>).
    """
    ids = [vocab.ids.get(word, UNK_ID) for word in sentence.split()]
    if max_length is not None:
        if max_length < 2:
            raise DataError(f"encode: max_length {max_length} leaves no room for {START} and {END}")
        if len(ids) > max_length:
            ids = ids[:max_length - 1] + ids[-1:]
    return ids


def decode(vocab: Vocabulary, ids: Sequence[int]) -> str:
    """The words of `ids` up to the first `<end>`, without `<start>` and `<pad>`, joined by spaces.

    Raises:
      DataError: an id outside the vocabulary.
    """
    words = []
    for position, token_id in enumerate(ids):
        token_id = int(token_id)
        if not 0 <= token_id < len(vocab.tokens):
            raise DataError(f"decode: id {token_id} at position {position} is outside the "
                            f"vocabulary of {len(vocab.tokens)} tokens")
        if token_id == END_ID:
            break
        if token_id not in (PAD_ID, START_ID):
            words.append(vocab.tokens[token_id])
    return " ".join(words)


def _check_token(token: str, where: str) -> None:
    if not isinstance(token, str) or not token or token.split() != [token]:
        raise DataError(f"{where}: token {token!r} is empty or holds white space, expected one word")
