"""Shared test set-up: quiet TensorFlow, and the data, models and parsers several test modules use.

Test modules import these helpers from here (`from conftest import ...`), never from each other.
"""

import contextlib
import importlib.util
import os
import re
import signal
import sys
import xml.etree.ElementTree as ET

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from graphkit.quiet import import_tensorflow  # noqa: E402

import_tensorflow()

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from graphkit import constants as names  # noqa: E402
from graphkit.models.graph_model import GraphModel  # noqa: E402
from graphkit.models.hello_mnist import build_hello_mnist  # noqa: E402
from graphkit.nn import layers, losses  # noqa: E402
from graphkit.runtime.model_session import ModelSession  # noqa: E402
from graphkit.serving.export import Signature, export_saved_model  # noqa: E402

v1 = tf.compat.v1
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_script(relative_path: str, name: str | None = None):
    """An example or benchmark script imported as a module (its `main` not run).

    Its folder is importable while it loads (benchmarks import `_processes` and
    their peers), and it is registered in sys.modules under `name` (default: the
    file's stem), where dataclasses look their module up.
    """
    path = os.path.join(REPO, relative_path)
    name = name or os.path.basename(path)[:-3]
    folder = os.path.dirname(path)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, folder)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    finally:
        sys.path.remove(folder)
    return module


def make_blobs(count: int = 512, seed: int = 0, image_shape=(28, 28), classes: int = 10):
    """Images whose class is the brightest of `classes` horizontal bands (learnable, not trivial)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, size=count).astype(np.int32)
    images = rng.random((count, *image_shape), dtype=np.float32) * 0.5
    band = image_shape[0] * image_shape[1] // classes
    flat = images.reshape(count, -1)
    for i, label in enumerate(labels):
        flat[i, label * band:(label + 1) * band] += 0.5
    return images, labels


@pytest.fixture(scope="session", name="cpp_binary")
def cpp_binary_fixture():
    """graphkit-run, compiled once (cached across test runs by TF version and source hash)."""
    from graphkit.serving.cpp_build import build_cpp

    return build_cpp()


@pytest.fixture(scope="session")
def blobs():
    """(x, labels) with 512 examples of 28x28 float32 images in [0, 1] and 10 classes."""
    return make_blobs()


def write_mnist_npz(path, train_count: int = 600, test_count: int = 200, seed: int = 3) -> str:
    """Writes a Keras-format mnist.npz (uint8 images, uint8 labels) of blobs; returns its path."""
    x_train, y_train = make_blobs(train_count, seed=seed)
    x_test, y_test = make_blobs(test_count, seed=seed + 1)
    as_uint8 = lambda x: (np.clip(x, 0, 1) * 255).astype(np.uint8)  # noqa: E731
    np.savez(path, x_train=as_uint8(x_train), y_train=y_train.astype(np.uint8),
             x_test=as_uint8(x_test), y_test=y_test.astype(np.uint8))
    return str(path)


@contextlib.contextmanager
def time_limit(seconds: int, what: str = "test"):
    """Raises TimeoutError in the block after `seconds` (SIGALRM), so a hung test fails instead of hanging."""
    def expire(signum, frame):
        raise TimeoutError(f"{what}: still running after its {seconds} s limit")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# -- graph sources of every kind (test_graphio, test_viz*) ------------------------------

def build_training_model() -> GraphModel:
    """x [?,4] -> model/hidden (dense 8, relu) -> control-gated model/gated -> model/logits (dense 3).

    Trained with Adam (so gradients, optimizer slots and initializers exist) and
    with a Saver (save/restore ops).
    """
    graph = tf.Graph()
    with graph.as_default():
        v1.set_random_seed(0)
        x = v1.placeholder(tf.float32, [None, 4], name="x")
        labels = v1.placeholder(tf.int32, [None], name="labels")
        with v1.variable_scope("model"):
            hidden = layers.dense(x, 8, activation=tf.nn.relu, scope="hidden")
            check = tf.debugging.check_numerics(hidden, "hidden is not finite", name="check")
            with tf.control_dependencies([check.op]):
                gated = tf.identity(hidden, name="gated")
            logits = layers.dense(gated, 3, scope="logits")
        probabilities = tf.nn.softmax(logits, name="probabilities")
        loss = losses.sparse_softmax_cross_entropy(labels, logits)
        global_step = v1.train.get_or_create_global_step()
        train_op = v1.train.AdamOptimizer(0.01).minimize(loss, global_step=global_step, name="train_op")
        v1.train.Saver()
    return GraphModel(graph, inputs={"x": x}, outputs={"probabilities": probabilities, "logits": logits},
                      targets={"labels": labels}, loss=loss, train_op=train_op, global_step=global_step)


def write_sources(directory: str) -> dict:
    """Writes a fresh training model as .pb, .pbtxt (without shapes), .meta and a SavedModel.

    Returns:
      kind -> path, and "ops" -> the op names of the .pb/.pbtxt/.meta graph (the
      SavedModel builder adds its own save and init ops after those were written).
    """
    model = build_training_model()
    graph_def = model.graph.as_graph_def()  # no _output_shapes: the loader must infer them
    paths = {
        "pb": os.path.join(directory, "graph.pb"),
        "pbtxt": os.path.join(directory, "graph.pbtxt"),
        "meta": os.path.join(directory, "model.ckpt.meta"),
        "saved_model": os.path.join(directory, "saved_model"),
        "ops": [node.name for node in graph_def.node],
    }
    tf.io.write_graph(graph_def, directory, "graph.pb", as_text=False)
    tf.io.write_graph(graph_def, directory, "graph.pbtxt", as_text=True)
    with model.graph.as_default():
        v1.train.export_meta_graph(filename=paths["meta"])
        builder = v1.saved_model.Builder(paths["saved_model"])
        predict = v1.saved_model.signature_def_utils.predict_signature_def
        x = {"x": model.inputs["x"]}
        signatures = {
            "serving_default": predict(x, {"probabilities": model.outputs["probabilities"]}),
            "logits": predict(x, {"logits": model.outputs["logits"]}),
        }
        with v1.Session(graph=model.graph) as session:
            session.run(v1.global_variables_initializer())
            builder.add_meta_graph_and_variables(session, ["serve"], signature_def_map=signatures)
        builder.add_meta_graph(["train"])
        builder.save()
    return paths


# -- parsed Graphviz SVG (test_viz*, test_placement) -----------------------------------

SVG = "{http://www.w3.org/2000/svg}"
XLINK_TITLE = "{http://www.w3.org/1999/xlink}title"
OP_COUNT = re.compile(r"(\d+) ops")


class Drawing:
    """The nodes, clusters and edges of a Graphviz SVG, keyed by their <title>."""

    def __init__(self, path):
        root = ET.parse(str(path)).getroot()
        self.nodes, self.clusters, self.edges = {}, {}, {}
        for group in root.iter(SVG + "g"):
            title = group.findtext(SVG + "title")
            kind = group.get("class")
            if kind == "node":
                self.nodes[title] = group
            elif kind == "cluster":
                self.clusters[title] = group
            elif kind == "edge":
                self.edges.setdefault(title, []).append(group)

    @staticmethod
    def texts(group) -> list:
        return [text.text for text in group.iter(SVG + "text")]

    @staticmethod
    def fill(group) -> str:
        shape = next(el for el in group.iter() if el.tag in (SVG + "polygon", SVG + "path", SVG + "ellipse"))
        return shape.get("fill")

    @staticmethod
    def tooltip(group) -> str:
        anchor = next(group.iter(SVG + "a"))
        return anchor.get(XLINK_TITLE)

    @staticmethod
    def dashed(edge) -> bool:
        return any(path.get("stroke-dasharray") for path in edge.iter(SVG + "path"))

    def edge_labels(self, tail: str, head: str) -> list:
        return sorted(" ".join(self.texts(edge)) for edge in self.edges.get(f"{tail}->{head}", []))

    def ops_drawn(self) -> int:
        """Ops the boxes stand for: N for a box saying "N ops", 0 for a signature port, else 1."""
        total = 0
        for title, node in self.nodes.items():
            if title.startswith(("[input] ", "[output] ", "[legend] ", "[stub] ")):
                continue
            match = OP_COUNT.search(" ".join(text or "" for text in self.texts(node)))
            total += int(match.group(1)) if match else 1
        return total


# -- exported SavedModels (test_export, test_cpp) --------------------------------------

VOCABULARY = ["<pad>", "cat", "dog", "fish", "bird"]
EMBEDDING_WIDTH = 3
LOOKUP_SIGNATURE = "lookup"


def build_word_lookup(vocabulary_path: str) -> GraphModel:
    """string words [n] + int32 shift [n] -> ids, shifted ids, the word at the shifted id, vectors.

    Out-of-vocabulary words get id len(vocabulary) (one OOV bucket); a shifted
    id past the vocabulary reads back as "<unk>".
    """
    graph = tf.Graph()
    with graph.as_default():
        words = v1.placeholder(tf.string, [None], name="words")
        shift = v1.placeholder(tf.int32, [None], name="shift")
        index = v1.lookup.TextFileIndex
        word_to_id = v1.lookup.StaticVocabularyTable(
            v1.lookup.TextFileInitializer(vocabulary_path, tf.string, index.WHOLE_LINE, tf.int64,
                                          index.LINE_NUMBER), num_oov_buckets=1)
        id_to_word = v1.lookup.StaticHashTable(
            v1.lookup.TextFileInitializer(vocabulary_path, tf.int64, index.LINE_NUMBER, tf.string,
                                          index.WHOLE_LINE), default_value="<unk>")
        ids = tf.identity(word_to_id.lookup(words), name="ids")
        shifted = tf.add(ids, tf.cast(shift, tf.int64), name="shifted")
        shifted_words = tf.identity(id_to_word.lookup(shifted), name="shifted_words")
        embedding = v1.get_variable(
            "embedding", [len(VOCABULARY) + 1, EMBEDDING_WIDTH],
            initializer=v1.constant_initializer(np.arange((len(VOCABULARY) + 1) * EMBEDDING_WIDTH) / 10.0))
        vectors = tf.gather(embedding, ids, name="vectors")
        upper = tf.strings.upper(words, name="upper")
    return GraphModel(graph, inputs={"words": words, "shift": shift},
                      outputs={"ids": ids, "shifted": shifted, "shifted_words": shifted_words,
                               "vectors": vectors, "upper": upper})


def lookup_expected(words, shift):
    """What the lookup model must return, computed in numpy."""
    ids = np.array([VOCABULARY.index(w) if w in VOCABULARY else len(VOCABULARY) for w in words], np.int64)
    shifted = ids + np.asarray(shift, np.int64)
    shifted_words = [VOCABULARY[i].encode() if 0 <= i < len(VOCABULARY) else b"<unk>" for i in shifted]
    vectors = (np.arange((len(VOCABULARY) + 1) * EMBEDDING_WIDTH) / 10.0).reshape(-1, EMBEDDING_WIDTH)[ids]
    return ids, shifted, shifted_words, vectors.astype(np.float32)


def export_word_lookup(directory) -> str:
    """Exports the lookup model with `serving_default` and a `lookup` signature (words -> ids)."""
    vocabulary_path = os.path.join(directory, "source", names.VOCABULARY_ASSET)
    os.makedirs(os.path.dirname(vocabulary_path), exist_ok=True)
    with open(vocabulary_path, "w", encoding="utf-8") as stream:
        stream.write("\n".join(VOCABULARY) + "\n")
    model = build_word_lookup(vocabulary_path)
    with model.graph.as_default():
        init = [v1.global_variables_initializer(), v1.tables_initializer()]
    with v1.Session(graph=model.graph) as session:
        session.run(init)
        extra = {LOOKUP_SIGNATURE: Signature({"words": model.inputs["words"]}, {"ids": model.outputs["ids"]})}
        path = export_saved_model(session, model, os.path.join(directory, "word_lookup"), signatures=extra)
    os.remove(vocabulary_path)  # the SavedModel must use its own copy in assets/
    return path


def train_and_export_hello(directory, blobs, frozen=True):
    """Trains a small hello-world model one epoch and exports it; returns (path, x, predictions)."""
    images, labels = blobs
    model = build_hello_mnist(hidden=32, seed=3)
    labels_path = os.path.join(directory, names.LABELS_ASSET)
    with open(labels_path, "w", encoding="utf-8") as stream:
        stream.write("\n".join(f"class {i}" for i in range(10)) + "\n")
    with ModelSession(model) as model_session:
        model_session.fit({"x": images, "labels": labels}, epochs=1, batch_size=64, progress=False)
        predictions = model_session.predict({"x": images[:8]})
        path = export_saved_model(model_session.session, model, os.path.join(directory, "hello"),
                                  assets=[labels_path], frozen=frozen)
    return path, images[:8], predictions


# -- a made-up parallel corpus (test_translator, test_example_translate) ----------------

INVENTED_WORDS = ("cat", "dog", "sees", "eats", "the", "a", "big", "small", "fish", "bird", "likes", "red")


def invented_pairs(count=40, seed=0):
    """(source, english) pairs: English of 2-5 words and a full stop; source = mirrored."""
    rng = np.random.default_rng(seed)
    english = set()
    while len(english) < count:
        english.add(" ".join(rng.choice(INVENTED_WORDS, rng.integers(2, 6))) + " .")
    return [(" ".join(word[::-1] for word in reversed(sentence.split()[:-1])) + " .", sentence)
            for sentence in sorted(english)]
