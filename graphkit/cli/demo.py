"""`graphkit demo`: the main job behind `make demo`, one step a function, printed as it goes.

1. load Fashion-MNIST (Debian's copy if installed, else MNIST, downloaded once);
2. build the seed hello-world model by hand, write its GraphDef, draw it as SVG;
3. train it (resuming from out/checkpoints), print its test accuracy, write
   TensorBoard logs;
4. export it as a SavedModel (and a frozen GraphDef), build the C++ loader
   `graphkit-run`, and print the C++ predictions beside Python's;
5. train a small Spanish-to-English translator (graphkit.models.translator), export it
   and translate a few sentences by Python and by `graphkit-run` side by side
   (`--no-translator` skips it; its data: `--translator-data PATH` or the public
   spa-eng.zip, downloaded once).

The library is imported inside `run_demo`, so that `graphkit --help` imports no TensorFlow.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from graphkit.runtime.model_session import ModelSession


FASHION_CLASSES = ("T-shirt", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def choose_dataset(dataset: str, data_path: Optional[str]) -> str:
    """"auto" means Debian's Fashion-MNIST where it is installed, else MNIST."""
    if dataset != "auto":
        return dataset
    if data_path is not None:
        return "fashion-mnist"
    from graphkit.data.datasets import SYSTEM_LOCATIONS

    installed = any(os.path.isdir(directory) for directory, _ in SYSTEM_LOCATIONS["fashion-mnist"])
    return "fashion-mnist" if installed else "mnist"


def draw_graph(model, out_dir: str) -> None:
    """Renders the model's default view to out/hello_mnist.svg, if Graphviz is there."""
    from graphkit.errors import RenderError
    from graphkit.viz import render

    path = os.path.join(out_dir, "hello_mnist.svg")
    try:
        result = render(model, path)
    except RenderError as err:  # no `dot`: the demo goes on, and says how to get it
        print(f"drawing skipped: {err}")
        return
    print(f"drawing: {path} ({result.visible_nodes} boxes for {result.ops} ops)")


def export_and_run_cpp(session: ModelSession, export_dir: str, images, class_names) -> dict:
    """Exports the trained model, runs it in C++ and in Python, prints both."""
    from graphkit.serving.cpp_run import compare_cpp_python
    from graphkit.serving.export import export_saved_model
    from graphkit.viz.reports import format_comparison

    export_saved_model(session.session, session.model, export_dir, frozen=True, overwrite=True)
    print(f"SavedModel: {export_dir} (inspect it: graphkit inspect {export_dir})")
    start = time.perf_counter()
    comparison = compare_cpp_python(export_dir, {"x": images})
    print(f"C++ (graphkit-run, built and run in {time.perf_counter() - start:.1f} s) beside Python:")
    print(format_comparison(comparison, class_names=class_names))
    return {"max_abs_diff": comparison.max_abs_diff}


TRANSLATOR_PAIRS = 2000  # the corpus's first (shortest) pairs: about a minute of training on 2 cores
TRANSLATOR_EPOCHS = 20


def translate_demo(out_dir: str, data_path: Optional[str] = None, pairs: int = TRANSLATOR_PAIRS,
                   epochs: int = TRANSLATOR_EPOCHS, seed: int = 1, shown: int = 6) -> dict:
    """Trains a small translator, exports it, prints Python's and graphkit-run's English side by side.

    Returns:
      {"translator_bleu": ..., "translator_cpp_same": ..., "translator_sentences": ...}, or {}
      when the corpus cannot be had (no local copy and no download).
    """
    from graphkit.data.spa_eng import load_pairs
    from graphkit.errors import DataError
    from graphkit.models import translator as nmt
    from graphkit.models.translator_corpus import prepare_corpus
    from graphkit.models.translator_eval import corpus_bleu, reference_words
    from graphkit.runtime.model_session import ModelSession
    from graphkit.runtime.translation import open_translator, train_translator, translate_all
    from graphkit.serving.cpp_run import compare_cpp_python
    from graphkit.serving.export import export_saved_model

    try:
        corpus_pairs = load_pairs(data_path, limit=pairs)
    except DataError as err:
        print(f"translator skipped: {err}")
        return {}
    directory = os.path.join(out_dir, "translator")
    corpus = prepare_corpus(corpus_pairs, directory, validation_fraction=0.1, seed=seed)
    config = corpus.config(units=128, embedding_dim=64, beam_width=3, learning_rate=5e-3)
    print(f"translator: {len(corpus.train)} Spanish-English pairs, GRU units {config.units}, "
          f"attention, beam search width {config.beam_width}")
    start = time.perf_counter()
    checkpoint_dir = os.path.join(directory, "checkpoints")
    shutil.rmtree(checkpoint_dir, ignore_errors=True)  # the corpus and vocabularies may have changed
    model = nmt.build_translator_training(config, seed=seed)
    with ModelSession(model, checkpoint_dir=checkpoint_dir) as session:
        reports = train_translator(session, corpus.source_ids, corpus.target_ids, epochs=epochs,
                                   batch_size=64, seed=seed, checkpoint_every=epochs)
    print(f"trained {sum(r.steps for r in reports)} steps in {time.perf_counter() - start:.1f} s, "
          f"loss {reports[0].loss:.2f} -> {reports[-1].loss:.2f}")
    inference = nmt.build_translator_inference(config, corpus.source_vocabulary_path,
                                               corpus.target_vocabulary_path)
    export_dir = os.path.join(directory, "saved_model")
    sentences = [spanish for spanish, _ in corpus.validation]
    with open_translator(inference, checkpoint_dir) as session:
        bleu = corpus_bleu(translate_all(session, inference, sentences),
                           [reference_words(english) for _, english in corpus.validation])
        export_saved_model(session.session, inference.model, export_dir, overwrite=True,
                           signatures={nmt.GREEDY_SIGNATURE: inference.signatures[nmt.GREEDY_SIGNATURE]})
    # Python and C++ on the held-out sentences and a few training ones (those it should know).
    shown_pairs = spread(corpus.train, shown // 2) + spread(corpus.validation, shown - shown // 2)
    comparison = compare_cpp_python(export_dir, {"sentences": sentences + [s for s, _ in shown_pairs]})
    cpp, python = comparison.cpp["translations"], comparison.python["translations"]
    same = sum(a == b for a, b in zip(cpp, python))
    print(f"SavedModel: {export_dir}; BLEU-4 on {len(sentences)} held-out pairs: {bleu.bleu:.1f}")
    width = max(len(spanish) for spanish, _ in shown_pairs)
    print(f"{'':9}{'Spanish':<{width}}  Python | graphkit-run | reference")
    for index, (spanish, english) in enumerate(shown_pairs):
        row = len(sentences) + index
        kind = "trained" if index < shown // 2 else "held-out"
        print(f"{kind:<9}{spanish:<{width}}  {python[row].decode()} | {cpp[row].decode()} | "
              f"{reference_words(english)}")
    print(f"graphkit-run and Python agree on {same} of {len(python)} sentences")
    return {"translator_bleu": bleu.bleu, "translator_cpp_same": same, "translator_sentences": len(python)}


def spread(items: list, count: int) -> list:
    """`count` items evenly spaced over `items` (the corpus is sorted by length: short to long)."""
    step = max(len(items) // max(count, 1), 1)
    return items[step - 1::step][:count]


def run_demo(out_dir: str = "out", dataset: str = "auto", data_path: Optional[str] = None,
             epochs: int = 1, batch_size: int = 32, seed: int = 1, cpp: bool = True,
             translator: bool = True, translator_data: Optional[str] = None) -> dict:
    """Runs every demo step; returns the figures it printed."""
    from graphkit.data.datasets import load_dataset, normalized_images
    from graphkit.graphs.write import write_graph_def
    from graphkit.models.hello_mnist import build_hello_mnist
    from graphkit.runtime.model_session import ModelSession

    os.makedirs(out_dir, exist_ok=True)
    data = load_dataset(choose_dataset(dataset, data_path), path=data_path)
    print(f"data: {data.name} from {data.source}: {len(data.x_train)} train / {len(data.x_test)} test images")
    train = {"x": normalized_images(data.x_train), "labels": data.y_train.astype("int32")}
    test = {"x": normalized_images(data.x_test), "labels": data.y_test.astype("int32")}

    model = build_hello_mnist(seed=seed)
    graph_path = write_graph_def(model.graph_def(), os.path.join(out_dir, "hello_mnist.pb"))
    print(f"graph: {len(model.graph.get_operations())} ops written to {graph_path}")
    draw_graph(model, out_dir)

    figures = {}
    checkpoint_dir = os.path.join(out_dir, "checkpoints")
    logdir = os.path.join(out_dir, "logs")
    with ModelSession(model, checkpoint_dir=checkpoint_dir, logdir=logdir) as session:
        start = time.perf_counter()
        results = session.fit(train, epochs=session.epoch + epochs, batch_size=batch_size, seed=seed)
        for result in results:
            print(f"epoch {result.epoch}: loss {result.loss:.4f}, {result.seconds:.1f} s, "
                  f"{result.examples_per_s:,.0f} examples/s")
        scores = session.evaluate(test)
        figures["test_accuracy"] = scores["accuracy"]
        print(f"test accuracy: {scores['accuracy']:.4f} (loss {scores['loss']:.4f}) "
              f"after {session.epoch} epoch(s), {time.perf_counter() - start:.1f} s")
        print(f"checkpoints: {checkpoint_dir}  TensorBoard logs: {logdir} (tensorboard --logdir {logdir})")
        if cpp:
            class_names = FASHION_CLASSES if data.name == "fashion-mnist" else None
            figures.update(export_and_run_cpp(session, os.path.join(out_dir, "saved_model"), test["x"][:8],
                                              class_names))
    if translator and cpp:
        figures.update(translate_demo(out_dir, translator_data, seed=seed))
    return figures


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo", help="train the hand-built hello-world model and write its graph and logs",
        description=__doc__)
    parser.add_argument("--out", default="out", help="output directory (default: out)")
    parser.add_argument("--dataset", default="auto", choices=("auto", "fashion-mnist", "mnist"),
                        help="auto: Debian's Fashion-MNIST if installed, else MNIST (downloaded) "
                             "(default: auto)")
    parser.add_argument("--data", default=None, metavar="PATH",
                        help="local .npz file or IDX directory (default: look in the usual places)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs to train in total (default: 1)")
    parser.add_argument("--batch-size", type=int, default=32, help="examples per step (default: 32)")
    parser.add_argument("--seed", type=int, default=1, help="graph seed of the weights (default: 1)")
    parser.add_argument("--no-translator", dest="translator", action="store_false",
                        help="skip the Spanish-to-English translator step (default: run it)")
    parser.add_argument("--translator-data", default=None, metavar="PATH",
                        help="spa-eng.zip or spa.txt for the translator (default: the public zip)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    run_demo(out_dir=args.out, dataset=args.dataset, data_path=args.data, epochs=args.epochs,
             batch_size=args.batch_size, seed=args.seed, translator=args.translator,
             translator_data=args.translator_data)
    return 0
