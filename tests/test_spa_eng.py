"""graphkit.data.spa_eng, vocabulary and text_batches: corpus files, preprocessing, splits, ids, batches.

Every corpus here is written by the tests (txt and zip, in the public file's layout);
the download path reads a `file://` URL, so nothing reaches the network.
"""

import hashlib
import os
import zipfile

import numpy as np
import pytest

from graphkit.data import spa_eng, text_batches, vocabulary
from graphkit.errors import DataError

LINES = [
    "Go.\tVe.",
    "Hi.\tHola.",
    "Run!\t¡Corre!\tCC-BY 2.0 (France) Attribution: tatoeba.org #906328 (papabear)",
    "Is he still at home?\t¿Todavía está en casa?",
    "I don't have 2 cats.\tNo tengo 2 gatos.",
]


def write_txt(path, lines, ending="\n"):
    with open(path, "wb") as handle:
        handle.write("".join(line + ending for line in lines).encode("utf-8"))
    return str(path)


def write_zip(path, lines, member="spa-eng/spa.txt"):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member, "".join(line + "\n" for line in lines))
        archive.writestr("spa-eng/_about.txt", "made up for the tests\n")
    return str(path)


EXPECTED_PAIRS = [("Ve.", "Go."), ("Hola.", "Hi."), ("¡Corre!", "Run!"),
                  ("¿Todavía está en casa?", "Is he still at home?"),
                  ("No tengo 2 gatos.", "I don't have 2 cats.")]


def test_load_pairs_reads_txt_and_zip_as_spanish_english(tmp_path):
    assert spa_eng.load_pairs(write_txt(tmp_path / "spa.txt", LINES)) == EXPECTED_PAIRS
    assert spa_eng.load_pairs(write_zip(tmp_path / "spa-eng.zip", LINES)) == EXPECTED_PAIRS
    assert spa_eng.load_pairs(write_txt(tmp_path / "crlf.txt", LINES, "\r\n")) == EXPECTED_PAIRS


def test_load_pairs_limit_reads_only_the_first_pairs(tmp_path):
    path = write_txt(tmp_path / "spa.txt", LINES + ["a line without a tab"])
    assert spa_eng.load_pairs(path, limit=2) == EXPECTED_PAIRS[:2]
    assert spa_eng.load_pairs(path, limit=0) == []
    with pytest.raises(DataError, match="limit -1"):
        spa_eng.load_pairs(path, limit=-1)


@pytest.mark.parametrize("writer, where", [(write_txt, "spa.txt:3"),
                                           (write_zip, r"spa-eng.zip\[spa-eng/spa.txt\]:3")])
def test_a_line_without_a_tab_names_file_and_line(tmp_path, writer, where):
    name = "spa.txt" if writer is write_txt else "spa-eng.zip"
    path = writer(tmp_path / name, LINES[:2] + ["Hello there"] + LINES[2:])
    with pytest.raises(DataError, match=f"{where}: no tab in the line.*'Hello there'"):
        spa_eng.load_pairs(path)


def test_bad_files_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="missing.txt: cannot read"):
        spa_eng.load_pairs(str(tmp_path / "missing.txt"))
    with pytest.raises(DataError, match=r"other.zip: no spa.txt in the zip \(it holds readme.txt\)"):
        with zipfile.ZipFile(tmp_path / "other.zip", "w") as archive:
            archive.writestr("readme.txt", "x")
        spa_eng.load_pairs(str(tmp_path / "other.zip"))
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(open(write_zip(tmp_path / "whole.zip", LINES), "rb").read()[:60])
    with pytest.raises(DataError, match="truncated.zip: corrupt or truncated zip"):
        spa_eng.load_pairs(str(truncated))
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("Hi.\tHola.\nYes.\tS\xed.\n".encode("latin-1"))
    with pytest.raises(DataError, match="latin1.txt:2: not UTF-8"):
        spa_eng.load_pairs(str(latin1))


def test_download_is_checked_cached_and_refused_on_a_wrong_checksum(tmp_path):
    source = write_zip(tmp_path / "public.zip", LINES)
    sha256 = hashlib.sha256(open(source, "rb").read()).hexdigest()
    url = "file://" + source
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match=r"expected 0{64} \(\d+ bytes\); nothing was saved"):
        spa_eng.load_pairs(cache_dir=str(cache), url=url, sha256="0" * 64)
    assert not (cache / "spa-eng" / "spa-eng.zip").exists()
    assert spa_eng.load_pairs(cache_dir=str(cache), url=url, sha256=sha256) == EXPECTED_PAIRS
    cached = cache / "spa-eng" / "spa-eng.zip"
    assert cached.read_bytes() == open(source, "rb").read()
    os.remove(source)  # the second call must read the cache, not the URL
    assert spa_eng.load_pairs(cache_dir=str(cache), url=url, sha256=sha256, limit=1) == EXPECTED_PAIRS[:1]
    cached.write_bytes(b"PK\x03\x04 damaged")
    with pytest.raises(DataError, match="spa-eng.zip: sha256 .* delete the file"):
        spa_eng.load_pairs(cache_dir=str(cache), url=url, sha256=sha256)
    with pytest.raises(DataError, match="spa-eng: no cached copy at .* cannot download"):
        spa_eng.load_pairs(cache_dir=str(tmp_path / "empty"), url="file://" + str(tmp_path / "absent.zip"),
                           sha256=sha256)


@pytest.mark.parametrize("raw, expected", [
    ("¿Todavía está en casa?", "<start> ¿ todavia esta en casa ? <end>"),
    ("¡Corre!", "<start> corre ! <end>"),
    ("May I borrow this book?", "<start> may i borrow this book ? <end>"),
    ("I don't have 2 cats.", "<start> i don t have cats . <end>"),
    ('He said "no", then left...', "<start> he said no , then left . . . <end>"),
    ("  ÉL   ESTÁ\taquí, ¿no?  ", "<start> el esta aqui , ¿ no ? <end>"),
    ("El año pasado, Ñoño comió pingüino.", "<start> el ano pasado , nono comio pinguino . <end>"),
    ("Straße øl Ångström", "<start> stra e l angstrom <end>"),
    ("", "<start> <end>"),
    ("123 ¡¡ --", "<start> <end>"),
    (b"Hola \xff\xfe mundo", "<start> hola mundo <end>"),
    (b"ca\xc3(sa", "<start> ca sa <end>"),
])
def test_preprocess_is_the_tutorials(raw, expected):
    assert spa_eng.preprocess(raw) == expected


def test_split_is_seeded_and_partitions(tmp_path):
    pairs = [(f"es {i}", f"en {i}") for i in range(50)]
    train, validation = spa_eng.split_pairs(pairs, 0.2, seed=3)
    assert len(validation) == 10 and len(train) == 40
    assert sorted(train + validation) == sorted(pairs)
    assert spa_eng.split_pairs(pairs, 0.2, seed=3) == (train, validation)
    assert spa_eng.split_pairs(pairs, 0.2, seed=4)[1] != validation
    assert train == [pair for pair in pairs if pair in train]  # the corpus's order is kept
    assert spa_eng.split_pairs(pairs, 0.0, seed=3) == (pairs, [])
    with pytest.raises(DataError, match="validation_fraction 1.0 is outside"):
        spa_eng.split_pairs(pairs, 1.0)


SENTENCES = ["<start> hola . <end>", "<start> hola mundo <end>", "<start> adios mundo . <end>",
             "<start> hola <end>"]


def test_vocabulary_order_and_round_trip(tmp_path):
    vocab = vocabulary.build_vocabulary(SENTENCES)
    assert vocab.tokens == ("<pad>", "<unk>", "<start>", "<end>", "hola", ".", "mundo", "adios")
    assert vocabulary.build_vocabulary(SENTENCES, max_size=6).tokens == vocab.tokens[:6]
    path = vocabulary.write_vocabulary(vocab, str(tmp_path / "vocab.txt"))
    assert open(path, encoding="utf-8").read() == "\n".join(vocab.tokens) + "\n"
    assert vocabulary.read_vocabulary(path) == vocab
    ids = vocabulary.encode(vocab, "<start> hola gato mundo <end>")
    assert ids == [2, 4, 1, 6, 3]
    assert vocabulary.decode(vocab, ids + [0, 0]) == "hola <unk> mundo"
    assert vocabulary.decode(vocab, [2, 7, 3, 4, 4]) == "adios"
    assert vocabulary.encode(vocab, "<start> hola hola hola hola <end>", max_length=4) == [2, 4, 4, 3]
    for sentence in SENTENCES:
        assert vocabulary.decode(vocab, vocabulary.encode(vocab, sentence)) == sentence[8:-6]


def test_vocabulary_bad_input(tmp_path):
    with pytest.raises(DataError, match="max_size 3 leaves no room"):
        vocabulary.build_vocabulary(SENTENCES, max_size=3)
    with pytest.raises(DataError, match="max_length 1"):
        vocabulary.encode(vocabulary.build_vocabulary(SENTENCES), "<start> <end>", max_length=1)
    with pytest.raises(DataError, match="id 99 at position 1 is outside the vocabulary of 8"):
        vocabulary.decode(vocabulary.build_vocabulary(SENTENCES), [2, 99])
    cases = {"blank.txt": ("<pad>\n<unk>\n<start>\n<end>\nhola\n\nmundo\n", "blank.txt:6: token ''"),
             "reserved.txt": ("<unk>\n<pad>\n<start>\n<end>\n", "reserved.txt: vocabulary: starts with"),
             "twice.txt": ("<pad>\n<unk>\n<start>\n<end>\nhola\nhola\n", "token 5: 'hola' already has id 4"),
             "space.txt": ("<pad>\n<unk>\n<start>\n<end>\nhola mundo\n", "space.txt:5: token 'hola mundo'")}
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        with pytest.raises(DataError, match=message):
            vocabulary.read_vocabulary(str(tmp_path / name))
    with pytest.raises(DataError, match="absent.txt: cannot read vocabulary"):
        vocabulary.read_vocabulary(str(tmp_path / "absent.txt"))


def random_sequences(count, seed):
    rng = np.random.default_rng(seed)
    return [list(rng.integers(4, 50, size=rng.integers(2, 12))) for _ in range(count)]


@pytest.mark.parametrize("bucket", [False, True])
def test_padded_batches_hold_every_pair_once_padded_with_zero(bucket):
    sources, targets = random_sequences(203, seed=1), random_sequences(203, seed=2)
    batches = list(text_batches.padded_batches(sources, targets, batch_size=16, seed=5, bucket=bucket))
    assert [len(batch["source"]) for batch in batches].count(16) == 12
    assert sum(len(batch["source"]) for batch in batches) == 203
    seen = []
    for batch in batches:
        assert set(batch) == set(text_batches.BATCH_KEYS)
        for key in text_batches.BATCH_KEYS:
            assert batch[key].dtype == np.int32
        for side in ("source", "target"):
            ids, lengths = batch[side], batch[f"{side}_length"]
            assert ids.shape[1] == lengths.max()
            mask = np.arange(ids.shape[1])[None, :] < lengths[:, None]
            assert (ids[~mask] == 0).all() and (ids[mask] >= 4).all()
        seen += [(tuple(s[:n]), tuple(t[:m])) for s, n, t, m in zip(
            batch["source"], batch["source_length"], batch["target"], batch["target_length"])]
    assert sorted(seen) == sorted((tuple(s), tuple(t)) for s, t in zip(sources, targets))
    again = list(text_batches.padded_batches(sources, targets, batch_size=16, seed=5, bucket=bucket))
    assert all((a["source"] == b["source"]).all() for a, b in zip(batches, again))
    other = next(text_batches.padded_batches(sources, targets, batch_size=16, seed=6, bucket=bucket))
    first = batches[0]["source"]
    assert other["source"].shape != first.shape or (other["source"] != first).any()


def test_bucketing_pads_less():
    sources, targets = random_sequences(2048, seed=3), random_sequences(2048, seed=4)

    def cells(bucket):
        return sum(batch["source"].size for batch in
                   text_batches.padded_batches(sources, targets, 16, seed=0, bucket=bucket))
    real = sum(map(len, sources))
    assert real / cells(True) > 0.9 > real / cells(False)


def test_fixed_widths_drop_remainder_and_bad_input():
    sources, targets = random_sequences(20, seed=1), random_sequences(20, seed=2)
    batches = list(text_batches.padded_batches(sources, targets, 8, seed=0, drop_remainder=True,
                                               source_width=12, target_width=15))
    assert [batch["source"].shape for batch in batches] == [(8, 12), (8, 12)]
    assert [batch["target"].shape for batch in batches] == [(8, 15), (8, 15)]
    with pytest.raises(DataError, match="has 11 ids, more than the width 5"):
        text_batches.pad_ids([[5] * 3, [5] * 11], width=5)
    with pytest.raises(DataError, match="20 source sequences but 19 target"):
        text_batches.padded_batches(sources, targets[:-1], 8, seed=0)
    with pytest.raises(DataError, match="batch_size 0"):
        text_batches.padded_batches(sources, targets, 0, seed=0)
    ids, lengths = text_batches.pad_ids([[7, 8, 9], [5]])
    np.testing.assert_array_equal(ids, [[7, 8, 9], [5, 0, 0]])
    np.testing.assert_array_equal(lengths, [3, 1])
