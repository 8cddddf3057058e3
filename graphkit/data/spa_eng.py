"""Spanish-English sentence pairs of TensorFlow's "NMT with attention" tutorial.

    pairs = load_pairs("../shared/data/spa-eng.zip", limit=30000)   # [(spanish, english), ...]
    train, validation = split_pairs(pairs, validation_fraction=0.2, seed=0)
    preprocess("¿Todavía está en casa?")     # '<start> ¿ todavia esta en casa ? <end>'

The corpus is the Tatoeba project's pairs as manythings.org/anki publishes them:
`spa-eng/spa.txt` inside `spa-eng.zip`, one pair a line, `english<TAB>spanish`
(newer copies add a third, attribution, field), shortest pairs first.
`load_pairs(path=None)` downloads the public zip once (sha256-checked, kept in
graphkit's dataset cache, as `datasets.load_dataset` does for MNIST); a path given
explicitly (zip or txt) is read as it is, without a checksum, since smaller copies
are in use.

`preprocess` is the tutorial's `preprocess_sentence`, kept to the letter because the
in-graph tokeniser (`text_graph.tokenize`) is checked against it:

1. lower case (Python's `str.lower`), then Unicode NFD and every combining mark
   (category Mn) dropped: "Está" -> "esta";
2. a space put on both sides of each of `? . ! , ¿`;
3. every run of other characters (digits, `¡`, apostrophes, quotes, letters with no
   a-z base such as "ß" or "ø") replaced by ONE space: "don't" -> "don t",
   "tengo 2 gatos" -> "tengo gatos", "año" -> "ano";
4. leading and trailing spaces stripped, and `<start> ` / ` <end>` added.

One difference: the tutorial writes an empty result as "<start>  <end>" (two
spaces), this writes "<start> <end>"; both split into the same two tokens.
Bytes that are not UTF-8 are decoded with U+FFFD in their place, which step 3
turns into a space.
"""

from __future__ import annotations

import io
import os
import re
import unicodedata
import zipfile
from collections.abc import Sequence

import numpy as np

from graphkit.data.datasets import ZIP_MAGIC, check_cached_sha256, default_cache_dir, fetch_verified
from graphkit.errors import DataError

SPA_ENG_URL = "https://storage.googleapis.com/download.tensorflow.org/data/spa-eng.zip"
SPA_ENG_SHA256 = "0c4fd7825d3d872488d38c157f784e035edab4f2ff0df25a2a208790ecb5b58f"
SPA_ENG_BYTES = 2_638_744  # the public zip's size, for messages
SPA_ENG_FILE = "spa-eng.zip"
CORPUS_MEMBER = "spa.txt"  # the member of the zip holding the pairs (spa-eng/spa.txt)

PUNCTUATION = "?.!,¿"  # the characters the tutorial keeps as words of their own
ALLOWED_CHARACTERS = "a-zA-Z" + PUNCTUATION  # as a regular-expression class body
_PUNCTUATION_RE = re.compile(f"([{PUNCTUATION}])")
_SPACE_OR_QUOTE_RE = re.compile(r'[" "]+')  # the tutorial's class: runs of spaces and double quotes
_OTHER_RE = re.compile(f"[^{ALLOWED_CHARACTERS}]+")


def load_pairs(path: str | None = None, limit: int | None = None, cache_dir: str | None = None, *,
               url: str = SPA_ENG_URL, sha256: str = SPA_ENG_SHA256) -> list[tuple[str, str]]:
    """Reads (spanish, english) pairs, raw text, in the corpus's order.

    Args:
      path: a `spa-eng.zip` (any zip holding a `spa.txt`) or a `spa.txt`, read without a
        checksum. None: the public zip from the dataset cache, downloaded the first time.
      limit: read only the first `limit` pairs (the lines after them are not read).
        None: all.
      cache_dir: where the download is kept; default $GRAPHKIT_DATA_CACHE or graphkit's
        dataset cache (`datasets.default_cache_dir`), under `spa-eng/`.
      url, sha256: where the public zip is and its checksum (a mirror may be given).
    Returns:
      [(spanish, english), ...], at most `limit` of them.
    Raises:
      DataError: a missing, unreadable or corrupt file; a zip without `spa.txt`; text
        that is not UTF-8 or a line without a tab (both name the file and the line);
        a download that fails or has another checksum; a negative limit.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise DataError(f"load_pairs: limit {limit!r} is not a count >= 0")
    if path is None:
        path = _cached_public_zip(cache_dir, url, sha256)
    else:
        path = os.path.expanduser(path)
    name, raw = _corpus_bytes(path)
    return _parse_pairs(name, raw, limit)


def preprocess(sentence: str | bytes) -> str:
    """The tutorial's `preprocess_sentence` (see the module doc for each step).

    Args:
      sentence: raw text; bytes are decoded as UTF-8 with U+FFFD for invalid bytes.
    Returns:
      "<start> word ... <end>", words separated by single spaces.
    """
    if isinstance(sentence, bytes):
        sentence = sentence.decode("utf-8", errors="replace")
    text = "".join(char for char in unicodedata.normalize("NFD", sentence.lower().strip())
                   if unicodedata.category(char) != "Mn")
    text = _PUNCTUATION_RE.sub(r" \1 ", text)
    text = _SPACE_OR_QUOTE_RE.sub(" ", text)
    text = _OTHER_RE.sub(" ", text).strip()
    return f"<start> {text} <end>" if text else "<start> <end>"


def split_pairs(pairs: Sequence[tuple[str, str]], validation_fraction: float = 0.2,
                seed: int = 0) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Splits pairs at random, seeded, into training and validation pairs.

    The validation pairs are round(len(pairs) * validation_fraction) pairs drawn with
    numpy's PCG64 generator seeded with `seed`; each part keeps the corpus's order.

    Args:
      pairs: the pairs.
      validation_fraction: in [0, 1).
      seed: the same seed gives the same split.
    Returns:
      (train, validation) lists.
    Raises:
      DataError: a fraction outside [0, 1).
    """
    if not 0.0 <= validation_fraction < 1.0:
        raise DataError(f"split_pairs: validation_fraction {validation_fraction} is outside [0, 1)")
    count = len(pairs)
    validation_count = int(round(count * validation_fraction))
    chosen = np.zeros(count, dtype=bool)
    chosen[np.random.default_rng(seed).permutation(count)[:validation_count]] = True
    train = [pair for pair, is_validation in zip(pairs, chosen) if not is_validation]
    validation = [pair for pair, is_validation in zip(pairs, chosen) if is_validation]
    return train, validation


def _cached_public_zip(cache_dir: str | None, url: str, sha256: str) -> str:
    directory = os.path.join(default_cache_dir() if cache_dir is None else os.path.expanduser(cache_dir),
                             "spa-eng")
    path = os.path.join(directory, SPA_ENG_FILE)
    if not os.path.isfile(path):
        fetch_verified(url, path, sha256, offline_hint=lambda reason: (
            f"spa-eng: no cached copy at {path} and {reason}. To fix: download {SPA_ENG_URL} "
            f"({SPA_ENG_BYTES} bytes, sha256 {SPA_ENG_SHA256}) to {path}, or pass a local copy "
            "with --data PATH (path=...)"))
    check_cached_sha256(path, sha256)
    return path


def _corpus_bytes(path: str) -> tuple[str, bytes]:
    """(a name for messages, the bytes of spa.txt) from a zip or a text file."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as err:
        raise DataError(f"{path}: cannot read the corpus ({err.strerror or err})") from err
    if raw[:len(ZIP_MAGIC)] != ZIP_MAGIC:
        return path, raw
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            members = [info.filename for info in archive.infolist() if not info.is_dir()]
            found = [member for member in members if member.rsplit("/", 1)[-1] == CORPUS_MEMBER]
            if not found:
                raise DataError(f"{path}: no {CORPUS_MEMBER} in the zip (it holds "
                                f"{', '.join(members) or 'nothing'})")
            return f"{path}[{found[0]}]", archive.read(found[0])
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as err:
        raise DataError(f"{path}: corrupt or truncated zip archive ({err})") from err


def _parse_pairs(name: str, raw: bytes, limit: int | None) -> list[tuple[str, str]]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[:err.start].count(b"\n") + 1
        raise DataError(f"{name}:{line}: not UTF-8 ({err.reason} at byte {err.start})") from err
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line
    pairs = []
    for number, line in enumerate(lines, start=1):
        if limit is not None and len(pairs) >= limit:
            break
        fields = line.rstrip("\r").split("\t")
        if len(fields) < 2:
            raise DataError(f"{name}:{number}: no tab in the line, expected english<TAB>spanish, "
                            f"got {line[:60]!r}")
        pairs.append((fields[1], fields[0]))
    return pairs
