"""Spanish to English with attention, built by hand: train, translate, export, heatmap.

TensorFlow's "NMT with attention" tutorial as tf.compat.v1 graphs
(graphkit.models.translator): a GRU encoder, Bahdanau attention and a GRU decoder
trained with teacher forcing; then an inference graph that takes raw Spanish
strings, tokenises them in the graph, decodes by beam search (or greedily) in a
while loop, and returns English strings and the attention matrix. Exported as a
SavedModel with the vocabularies as assets, it runs unchanged in graphkit's C++
program.

    python examples/08_translate.py train --data ../shared/data/spa-eng.zip      # minutes on 2 cores
    python examples/08_translate.py train --data ... --tutorial                 # 30,000 pairs, units 1024
    python examples/08_translate.py translate "¿Todavía está en casa?" "Hace frío."
    python examples/08_translate.py export            # SavedModel; C++ beside Python on the validation set
    python examples/08_translate.py heatmap "¿Todavía está en casa?" --png docs/attention.png

Every mode reads and writes `--out` (default out/translator): config.json, the
vocabularies, checkpoints/, validation.tsv, saved_model/. `--json` prints one
JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from graphkit.quiet import import_tensorflow

import_tensorflow()
from graphkit.data.spa_eng import load_pairs  # noqa: E402
from graphkit.errors import GraphkitError  # noqa: E402
from graphkit.files import atomic_write_text  # noqa: E402
from graphkit.models.translator import (  # noqa: E402
    GREEDY_SIGNATURE,
    SOURCE_VOCABULARY_FILE,
    TARGET_VOCABULARY_FILE,
    TranslatorConfig,
    build_translator_inference,
    build_translator_training,
)
from graphkit.models.translator_corpus import prepare_corpus  # noqa: E402
from graphkit.models.translator_eval import attention_view, corpus_bleu, reference_words  # noqa: E402
from graphkit.runtime.model_session import ModelSession  # noqa: E402
from graphkit.runtime.translation import open_translator, train_translator, translate, translate_all  # noqa: E402

CONFIG_FILE = "config.json"
VALIDATION_FILE = "validation.tsv"
# The tutorial's full size; the defaults finish in minutes on 2 cores.
# A higher learning rate than the tutorial's 1e-3 lets the small model learn in few epochs.
TUTORIAL = {"pairs": 30000, "units": 1024, "embedding": 256, "batch_size": 64, "epochs": 10,
            "learning_rate": 1e-3}
SMALL = {"pairs": 4000, "units": 256, "embedding": 128, "batch_size": 64, "epochs": 20, "learning_rate": 5e-3}
QUICK = {"pairs": 300, "units": 32, "embedding": 16, "batch_size": 32, "epochs": 2, "learning_rate": 5e-3}
EXAMPLES = ("¿Todavía está en casa?", "Hace mucho frío aquí.", "Esta es mi vida.", "Tengo hambre.")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="out/translator", help="the model's directory")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    modes = parser.add_subparsers(dest="mode", required=True)
    train = modes.add_parser("train", help="train on spa-eng pairs, then BLEU on the validation split")
    train.add_argument("--data", default=None,
                       help="spa-eng.zip or spa.txt (default: the public zip, downloaded once)")
    train.add_argument("--pairs", type=int, help=f"first N pairs (default {SMALL['pairs']})")
    train.add_argument("--units", type=int, help=f"GRU units (default {SMALL['units']})")
    train.add_argument("--embedding", type=int, help=f"embedding size (default {SMALL['embedding']})")
    train.add_argument("--batch-size", type=int, help=f"default {SMALL['batch_size']}")
    train.add_argument("--epochs", type=int, help=f"default {SMALL['epochs']}")
    train.add_argument("--learning-rate", type=float, help=f"Adam's (default {SMALL['learning_rate']})")
    train.add_argument("--max-steps", type=int, default=None, help="stop after this many steps")
    train.add_argument("--beam-width", type=int, default=4)
    train.add_argument("--validation", type=float, default=0.2, help="held-out fraction (default 0.2)")
    train.add_argument("--bleu-pairs", type=int, default=0,
                       help="score only the first N validation pairs (default 0: all)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--tutorial", action="store_true", help="the tutorial's size: " + json.dumps(TUTORIAL))
    train.add_argument("--quick", action="store_true", help="a tiny model, for tests")
    translate_mode = modes.add_parser("translate", help="translate sentences (beam search; --greedy)")
    translate_mode.add_argument("sentences", nargs="*", default=list(EXAMPLES))
    translate_mode.add_argument("--greedy", action="store_true")
    export = modes.add_parser("export", help="write the SavedModel; with --cpp, compare graphkit-run on it")
    export.add_argument("--cpp", action="store_true", help="translate the validation set in C++ and Python")
    heatmap = modes.add_parser("heatmap", help="draw one sentence's attention as PNG and SVG")
    heatmap.add_argument("sentence", nargs="?", default=EXAMPLES[0])
    heatmap.add_argument("--png", default=None, help="default <out>/attention.png")
    heatmap.add_argument("--svg", default=None, help="default <out>/attention.svg")
    args = parser.parse_args(argv)
    try:
        figures = {"train": run_train, "translate": run_translate, "export": run_export,
                   "heatmap": run_heatmap}[args.mode](args)
    except GraphkitError as err:
        print(f"08_translate: error: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(figures, ensure_ascii=False))
    return 0


def run_train(args) -> dict:
    size = dict(TUTORIAL if args.tutorial else QUICK if args.quick else SMALL)
    for key in size:
        if getattr(args, key, None) is not None:
            size[key] = getattr(args, key)
    pairs = load_pairs(args.data, limit=size["pairs"])
    corpus = prepare_corpus(pairs, args.out, args.validation, args.seed)
    config = corpus.config(units=size["units"], embedding_dim=size["embedding"], beam_width=args.beam_width,
                           learning_rate=size["learning_rate"])
    config.write(os.path.join(args.out, CONFIG_FILE))
    atomic_write_text(os.path.join(args.out, VALIDATION_FILE),
                      "".join(f"{spanish}\t{english}\n" for spanish, english in corpus.validation))
    print(f"data: {len(corpus.train)} training / {len(corpus.validation)} validation pairs; vocabularies "
          f"{config.source_vocab_size} Spanish, {config.target_vocab_size} English words; "
          f"units {config.units}, embedding {config.embedding_dim}, batch {size['batch_size']}, "
          f"learning rate {config.learning_rate}")
    model = build_translator_training(config, seed=args.seed)
    start = time.perf_counter()
    with ModelSession(model, checkpoint_dir=os.path.join(args.out, "checkpoints")) as session:
        print(f"{'epoch':>5}  {'steps':>5}  {'loss':>7}  {'seconds':>8}  {'tokens/s':>8}")
        reports = train_translator(
            session, corpus.source_ids, corpus.target_ids, epochs=size["epochs"],
            batch_size=size["batch_size"], seed=args.seed, max_steps=args.max_steps,
            on_epoch=lambda r: print(f"{r.epoch:>5}  {r.steps:>5}  {r.loss:>7.4f}  {r.seconds:>8.1f}  "
                                     f"{r.tokens_per_s:>8.0f}", flush=True))
    train_s = time.perf_counter() - start
    trained_s = max(sum(r.seconds for r in reports), 1e-9)
    figures = {"pairs": len(pairs), "units": config.units, "embedding": config.embedding_dim,
               "batch_size": size["batch_size"], "epochs": reports[-1].epoch if reports else 0,
               "steps": sum(r.steps for r in reports), "train_s": round(train_s, 1),
               "final_loss": reports[-1].loss if reports else None,
               "tokens_per_s": sum(r.target_tokens for r in reports) / trained_s}
    scored = corpus.validation[:args.bleu_pairs] if args.bleu_pairs > 0 else corpus.validation
    if scored:
        figures.update(validation_bleu(args.out, config, scored))
    return figures


def validation_bleu(out_dir: str, config: TranslatorConfig, validation) -> dict:
    """BLEU-4 of beam search and of greedy decoding on the validation pairs; prints a table."""
    inference = load_inference(out_dir, config)
    sentences = [spanish for spanish, _ in validation]
    references = [reference_words(english) for _, english in validation]
    scores = {}
    with open_translator(inference, os.path.join(out_dir, "checkpoints")) as session:
        for signature in ("beam_search", GREEDY_SIGNATURE):
            translations = translate_all(session, inference, sentences, signature)
            scores[signature] = corpus_bleu(translations, references)
        samples = translate(session, inference, sentences[:5])["translations"]
    print(f"\nBLEU-4 on {len(validation)} validation pairs (sacrebleu, preprocessed words):")
    print(f"  beam search (width {config.beam_width}): {scores['beam_search'].bleu:5.1f}")
    print(f"  greedy:                   {scores[GREEDY_SIGNATURE].bleu:5.1f}")
    print("\nvalidation samples (Spanish -> graphkit | reference):")
    for (spanish, english), translation in zip(validation, samples):
        print(f"  {spanish} -> {translation} | {reference_words(english)}")
    return {"validation_pairs": len(validation), "beam_bleu": scores["beam_search"].bleu,
            "greedy_bleu": scores[GREEDY_SIGNATURE].bleu}


def load_inference(out_dir: str, config: TranslatorConfig | None = None):
    config = config or TranslatorConfig.read(os.path.join(out_dir, CONFIG_FILE))
    return build_translator_inference(config, os.path.join(out_dir, SOURCE_VOCABULARY_FILE),
                                      os.path.join(out_dir, TARGET_VOCABULARY_FILE))


def run_translate(args) -> dict:
    inference = load_inference(args.out)
    signature = GREEDY_SIGNATURE if args.greedy else "beam_search"
    with open_translator(inference, os.path.join(args.out, "checkpoints")) as session:
        translations = translate(session, inference, args.sentences, signature)["translations"]
    for sentence, translation in zip(args.sentences, translations):
        print(f"{sentence} -> {translation}")
    return {"signature": signature, "translations": dict(zip(args.sentences, map(str, translations)))}


def run_export(args) -> dict:
    from graphkit.serving.cpp_run import compare_cpp_python
    from graphkit.serving.export import export_saved_model

    inference = load_inference(args.out)
    export_dir = os.path.join(args.out, "saved_model")
    with open_translator(inference, os.path.join(args.out, "checkpoints")) as session:
        export_saved_model(session.session, inference.model, export_dir, overwrite=True,
                           signatures={GREEDY_SIGNATURE: inference.signatures[GREEDY_SIGNATURE]})
    print(f"SavedModel: {export_dir} (assets: {sorted(os.listdir(os.path.join(export_dir, 'assets')))})")
    figures = {"export_dir": export_dir}
    if args.cpp:
        sentences = read_validation(args.out) or list(EXAMPLES)
        for signature in ("serving_default", GREEDY_SIGNATURE):
            comparison = compare_cpp_python(export_dir, {"sentences": sentences}, signature_key=signature)
            cpp, python = comparison.cpp["translations"], comparison.python["translations"]
            same = sum(a == b for a, b in zip(cpp, python))
            print(f"{signature}: graphkit-run and Python agree on {same} of {len(sentences)} sentences; "
                  f"max |attention difference| {comparison.max_abs_diff_by_output['attention']:.3g}")
            for sentence, c, p in list(zip(sentences, cpp, python))[:4]:
                print(f"  {sentence} -> C++: {c.decode()} | Python: {p.decode()}")
            figures[f"{signature}_same"] = same
        figures["sentences"] = len(sentences)
    return figures


def read_validation(out_dir: str) -> list[str]:
    path = os.path.join(out_dir, VALIDATION_FILE)
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as handle:
        return [line.split("\t")[0] for line in handle.read().splitlines() if line]


def run_heatmap(args) -> dict:
    from graphkit.viz.heatmap import attention_heatmap

    config = TranslatorConfig.read(os.path.join(args.out, CONFIG_FILE))
    inference = load_inference(args.out, config)
    with open_translator(inference, os.path.join(args.out, "checkpoints")) as session:
        result = translate(session, inference, [args.sentence])
    translation = str(result["translations"][0])
    view = attention_view(result["attention"][0], args.sentence, translation, int(result["source_length"][0]),
                          int(result["output_length"][0]), config.max_source_length)
    paths = attention_heatmap(view, args.png or os.path.join(args.out, "attention.png"),
                              args.svg or os.path.join(args.out, "attention.svg"),
                              title=f"{args.sentence} -> {translation}")
    print(f"{args.sentence} -> {translation}")
    print("attention heatmap: " + ", ".join(paths))
    return {"sentence": args.sentence, "translation": translation, "files": paths}


if __name__ == "__main__":
    sys.exit(main())
