"""graphkit.data.text_graph: the in-graph tokeniser equals spa_eng.preprocess + vocabulary.encode.

One graph is built per module and run in a real Session on a made-up corpus: accents,
¿ and ¡, unknown words, empty strings, over-long sentences, bytes that are not UTF-8,
and every code point of the Basic Multilingual Plane's first 12,288 plus a sample of the rest.
"""

import numpy as np
import pytest

from graphkit.data import spa_eng, text_graph, vocabulary
from graphkit.errors import DataError
from graphkit.quiet import import_tensorflow

tf = import_tensorflow()
v1 = tf.compat.v1

MAX_LENGTH = 9
TRAINING = ["¿Dónde está el niño?", "El niño está en casa.", "¡Qué día tan bonito!",
            "Ella come pan, él bebe agua.", "Tengo hambre.", "¿Por qué?"]
CORPUS = TRAINING + [
    "", "   ", "¡¡¡", "12345 6789", "zzz qqq xxx", "¿Dónde está el gato?",
    "ÉL ESTÁ AQUÍ", "el niño el niño el niño el niño el niño el niño", "niño " * 40,
    "Ça va? Über naïve façade — Ångström, Øre, Straße, İstanbul, ǅemal, ΣΟΦΙΑ, Привет, 東京!",
    "co\u0301mo\u0300\u0301 e\u20dd a\u0345", "tab\tand\nnewline\r", 'dice "hola", no?', "l'été d'après",
    "ﬁn ｆｕｌｌ ①②", "emoji 😀 ok.", "\u00bf\u00a1", "\ufeffbom", "nul\x00byte",
]
BAD_UTF8 = [b"\xff\xfe", b"ni\xc3o", b"ca\xc3(sa", b"\xe2\x28\xa1hola", b"trunc\xf0\x9f\x98",
            b"\xed\xa0\x80surrogate", b"\xc0\xafoverlong", b"est\xc3\xa1 \x80 bien"]


@pytest.fixture(scope="module")
def vocab_file(tmp_path_factory):
    vocab = vocabulary.build_vocabulary(spa_eng.preprocess(line) for line in TRAINING)
    path = str(tmp_path_factory.mktemp("vocab") / "spa.vocab")
    return vocab, vocabulary.write_vocabulary(vocab, path)


@pytest.fixture(scope="module")
def tokenizer(vocab_file):
    """(run(strings) -> ids, lengths, detokenized by table, detokenized by tokens, normalized), graph."""
    vocab, path = vocab_file
    graph = tf.Graph()
    with graph.as_default():
        strings = v1.placeholder(tf.string, [None], name="strings")
        ids, lengths = text_graph.tokenize(strings, text_graph.vocabulary_table(path, "source_vocabulary"),
                                           MAX_LENGTH)
        by_table = text_graph.detokenize(ids, text_graph.reverse_vocabulary_table(path, "source_tokens"))
        by_tokens = text_graph.detokenize(ids, tf.constant(vocab.tokens), name="detokenize_tokens")
        normalized = text_graph.normalize_text(strings)
        session = v1.Session(graph=graph)
        session.run(v1.tables_initializer())

    def run(batch):
        return session.run([ids, lengths, by_table, by_tokens, normalized], {strings: batch})
    yield run, graph
    session.close()


def expected_ids(vocab, raw):
    return vocabulary.encode(vocab, spa_eng.preprocess(raw), max_length=MAX_LENGTH)


def test_tokenize_equals_python_on_every_line(tokenizer, vocab_file):
    vocab, _ = vocab_file
    run, _ = tokenizer
    lines = [line.encode("utf-8") for line in CORPUS] + BAD_UTF8
    ids, lengths, by_table, by_tokens, _ = run(lines)
    assert ids.dtype == np.int32 and lengths.dtype == np.int32
    assert ids.shape == (len(lines), MAX_LENGTH)
    for row, raw in enumerate(lines):
        expected = expected_ids(vocab, raw)
        assert ids[row, :lengths[row]].tolist() == expected, raw
        assert not ids[row, lengths[row]:].any(), raw
        assert by_table[row].decode("utf-8") == vocabulary.decode(vocab, expected), raw
        assert by_tokens[row] == by_table[row], raw
    assert (lengths <= MAX_LENGTH).all() and lengths.max() == MAX_LENGTH  # the long lines were cut
    assert (ids[np.arange(len(lines)), lengths - 1] == vocabulary.END_ID).all()
    assert (ids[:, 0] == vocabulary.START_ID).all()


def test_edge_cases_have_their_defined_ids(tokenizer, vocab_file):
    vocab, _ = vocab_file
    run, _ = tokenizer
    ids, lengths, by_table, _, _ = run(["", "zzz qqq", "niño " * 40, "¿Dónde está el niño?", b"ni\xffel"])
    assert ids[0].tolist() == [2, 3] + [0] * 7 and lengths[0] == 2 and by_table[0] == b""
    assert ids[1, :4].tolist() == [2, 1, 1, 3] and by_table[1] == b"<unk> <unk>"
    nino = vocab.ids["nino"]
    assert ids[2].tolist() == [2] + [nino] * 7 + [3]
    assert by_table[3] == "¿ donde esta el nino ?".encode("utf-8")
    assert by_table[4] == b"<unk> el"  # "ni", U+FFFD (a space), "el"; "ni" is not in the vocabulary


def test_normalization_equals_python_code_point_by_code_point(tokenizer):
    run, _ = tokenizer
    code_points, _ = text_graph.character_table()
    rng = np.random.default_rng(0)
    sample = (set(range(1, 0x3000)) | set(code_points.tolist())
              | set(rng.integers(0x3000, 0x110000, 3000).tolist()))
    chars = [chr(c) for c in sorted(sample) if not 0xD800 <= c <= 0xDFFF]
    texts = [f"a{char}b{char}" for char in chars]
    normalized = run([text.encode("utf-8") for text in texts])[4]
    for char, text, result in zip(chars, texts, normalized):
        words = spa_eng.preprocess(text)[len("<start> "):-len(" <end>")]
        assert " ".join(result.decode("utf-8").split()) == words, f"U+{ord(char):04X}"


def test_graph_uses_core_ops_and_carries_the_vocabulary_as_an_asset(tokenizer, vocab_file):
    _, path = vocab_file
    _, graph = tokenizer
    op_types = {op.type for op in graph.get_operations()}
    assert {"UnicodeDecode", "LowerBound", "UnsortedSegmentJoin", "StaticRegexReplace", "StringSplitV2",
            "LookupTableFindV2", "InitializeTableFromTextFileV2"} <= op_types
    assert not op_types & {"PyFunc", "EagerPyFunc", "PyFuncStateless"}
    assert all(hasattr(tf.raw_ops, op_type) for op_type in op_types)  # every op is one of core TensorFlow's
    with tf.compat.v1.Session(graph=graph) as session:
        assets = session.run(graph.get_collection(v1.GraphKeys.ASSET_FILEPATHS))
    assert assets == [path.encode(), path.encode()]
    assert graph.get_tensor_by_name("tokenize/ids:0").shape.as_list() == [None, MAX_LENGTH]
    assert graph.get_tensor_by_name("tokenize/lengths:0").shape.as_list() == [None]


def test_vocabulary_from_a_path_tensor_and_bad_input(vocab_file, tmp_path):
    vocab, path = vocab_file
    graph = tf.Graph()
    with graph.as_default():
        path_tensor = v1.placeholder_with_default(path, [], name="vocabulary_path")
        table = text_graph.vocabulary_table(path_tensor, "from_tensor")
        ids, _ = text_graph.tokenize(tf.constant(["el niño"]), table, 4)
        with pytest.raises(DataError, match="tokenize: max_length 1 leaves no room"):
            text_graph.tokenize(tf.constant(["x"]), table, 1)
        with v1.Session() as session:
            session.run(v1.tables_initializer())
            assert session.run(ids).tolist() == [[2, vocab.ids["el"], vocab.ids["nino"], 3]]
        bad = tmp_path / "bad.vocab"
        bad.write_text("<pad>\n<unk>\n<start>\n<end>\nhola\nhola\n", encoding="utf-8")
        with pytest.raises(DataError, match="bad.vocab: .*'hola' already has id 4"):
            text_graph.vocabulary_table(str(bad), "bad")
        with pytest.raises(DataError, match="missing.vocab: cannot read vocabulary"):
            text_graph.reverse_vocabulary_table(str(tmp_path / "missing.vocab"), "missing")


def test_detokenize_keeps_leading_dimensions(vocab_file):
    vocab, _ = vocab_file
    beams = np.array([[[2, 4, 5, 3, 6], [4, 0, 5, 3, 3]], [[3, 4, 4, 4, 4], [5, 6, 7, 8, 9]]], dtype=np.int32)
    graph = tf.Graph()
    with graph.as_default(), v1.Session() as session:
        sentences = session.run(text_graph.detokenize(tf.constant(beams), tf.constant(vocab.tokens)))
    assert sentences.shape == (2, 2)
    for index in np.ndindex(2, 2):
        assert sentences[index].decode("utf-8") == vocabulary.decode(vocab, beams[index])


def test_an_empty_batch_gives_empty_outputs(tokenizer):
    run, _ = tokenizer
    ids, lengths, by_table, by_tokens, normalized = run(np.array([], dtype=object))
    assert ids.shape == (0, MAX_LENGTH) and lengths.shape == (0,)
    assert by_table.shape == by_tokens.shape == normalized.shape == (0,)
