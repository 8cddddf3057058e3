"""graphkit's hand-built translator against the NMT tutorial's Keras/tf.function model.

Both train the same model (GRU encoder, Bahdanau attention, GRU decoder with teacher
forcing, masked cross-entropy, Adam) on the same pairs, vocabularies and batch size
(`graphkit.models.translator_corpus.prepare_corpus`),
each side in its own subprocess so that its peak memory is its own, in two phases:

1. throughput, at `--size` (tutorial: 30,000 pairs, units 1024, embedding 256,
   batch 64): `--warmup-steps` steps, then `--steps` timed steps; target tokens per
   second = the target words (and <end>) the loss counts, over the timed steps'
   wall time. Batch preparation is done before the clock starts on both sides.
2. quality, at the small size (10,000 pairs, units 256, embedding 128, batch 64):
   `--bleu-steps` training steps each, then greedy translation of the first
   `--bleu-pairs` validation pairs (20% of the pairs, split with seed 0) and
   corpus BLEU-4 (`graphkit.models.translator_eval.corpus_bleu`: sacrebleu over the
   preprocessed words) against the preprocessed English; graphkit's beam search is
   scored too. The peer trains twice here, from the same weights on the same
   batches: with its embeddings' gradients made dense, which is Adam as TensorFlow
   computes it for graphkit (`peer_bleu`, the compared figure), and with Keras 3's
   Adam as it ships (`peer_keras3_adam_bleu`), which squares a repeated word's
   gradient rows one by one (benchmarks/nmt_peer.py says how that differs).

The peer (benchmarks/nmt_peer.py) is fed as in the tutorial: every sentence padded
to the longest of the training pairs, shuffled batches of 64 (remainder dropped).
graphkit trains with `graphkit.runtime.translation.train_translator` on batches
bucketed by length and padded to each batch's longest sentence.

    python benchmarks/nmt_vs_eager.py --data ../shared/data/spa-eng.zip [--size tutorial|small]
        [--steps 20] [--bleu-steps 1500] [--quick] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time

from _processes import peak_rss_mb, run_json_worker

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@dataclasses.dataclass(frozen=True)
class Size:
    """A model size and the pairs it trains on."""

    pairs: int
    units: int
    embedding: int
    batch: int


SIZES = {"tutorial": Size(pairs=30000, units=1024, embedding=256, batch=64),
         "small": Size(pairs=10000, units=256, embedding=128, batch=64)}
VALIDATION_FRACTION = 0.2
SPLIT_SEED = 0
SIDES = ("peer", "graphkit")
# --quick: the throughput phase at the given size but few steps, the quality phase on
# the corpus's 2,000 shortest pairs (short sentences learn fast enough to score).
QUICK = {"steps": 3, "warmup_steps": 1, "bleu_steps": 300, "bleu_pairs": 200, "bleu_corpus_pairs": 2000}


# -- the data both sides share ----------------------------------------------------------------
def prepare(data_path: str | None, pairs_count: int, directory: str):
    """The first `pairs_count` pairs split, with vocabularies (files in `directory`) and training ids.

    Returns:
      graphkit.models.translator_corpus.TranslatorCorpus, the one both sides train on.
    """
    from graphkit.data.spa_eng import load_pairs
    from graphkit.models.translator_corpus import prepare_corpus

    return prepare_corpus(load_pairs(data_path, limit=pairs_count), directory,
                          validation_fraction=VALIDATION_FRACTION, seed=SPLIT_SEED)


def peer_batches(corpus, batch_size: int, seed: int):
    """Endless tutorial-style batches: all pairs padded to the longest, shuffled, remainder dropped.

    Yields:
      (source int32 [batch, longest source], target int32 [batch, longest target], target words
      and <end>s the loss counts).
    """
    import numpy as np

    from graphkit.data.text_batches import pad_ids

    source, _ = pad_ids(corpus.source_ids, corpus.max_source_length)
    target, target_length = pad_ids(corpus.target_ids, corpus.max_target_length + 1)
    epoch = 0
    while True:
        order = np.random.default_rng(seed * 1_000_003 + epoch).permutation(len(source))
        for start in range(0, len(order) - batch_size + 1, batch_size):
            rows = order[start:start + batch_size]
            yield source[rows], target[rows], int(np.sum(target_length[rows] - 1))
        epoch += 1


def validation_ids(corpus, count: int):
    """The first `count` validation pairs as ids, cut to the training corpus's longest lengths."""
    from graphkit.data.spa_eng import preprocess
    from graphkit.data.vocabulary import encode

    pairs = corpus.validation[:count]
    source = [encode(corpus.source_vocab, preprocess(spanish), corpus.max_source_length)
              for spanish, _ in pairs]
    target = [encode(corpus.target_vocab, preprocess(english), corpus.max_target_length + 1)
              for _, english in pairs]
    return source, target


def bleu(hypotheses, validation) -> float:
    """Corpus BLEU-4 (graphkit.models.translator_eval) of preprocessed hypotheses against the English."""
    from graphkit.models.translator_eval import corpus_bleu, reference_words

    return corpus_bleu(list(hypotheses), [reference_words(english) for _, english in validation]).bleu


# -- the peer ----------------------------------------------------------------------------------
def peer_model(corpus, size: Size, seed: int, dense_gradients: bool = False):
    """The peer's encoder, decoder and training step; `dense_gradients`: see nmt_peer.make_train_step."""
    import keras
    import nmt_peer

    keras.utils.set_random_seed(seed)
    encoder = nmt_peer.Encoder(len(corpus.source_vocab), size.embedding, size.units)
    decoder = nmt_peer.Decoder(len(corpus.target_vocab), size.embedding, size.units)
    return encoder, decoder, nmt_peer.make_train_step(encoder, decoder, keras.optimizers.Adam(),
                                                      dense_gradients=dense_gradients)


def run_peer_throughput(spec) -> dict:
    size = Size(**spec["size"])
    with tempfile.TemporaryDirectory() as work:
        corpus = prepare(spec["data"], size.pairs, work)
    encoder, decoder, train_step = peer_model(corpus, size, spec["seed"])
    batches = peer_batches(corpus, size.batch, spec["seed"])
    for _ in range(spec["warmup_steps"]):
        source, target, _ = next(batches)
        train_step(source, target).numpy()
    timed = [next(batches) for _ in range(spec["steps"])]
    start = time.perf_counter()
    for source, target, _ in timed:
        loss = train_step(source, target)
    loss = float(loss.numpy())
    seconds = time.perf_counter() - start
    tokens = sum(count for _, _, count in timed)
    return {"seconds": seconds, "target_tokens": tokens, "loss": loss, "peak_rss_mb": peak_rss_mb()}


def run_peer_bleu(spec) -> dict:
    """The peer's quality phase twice from the same initial weights and batches: with
    TensorFlow's Adam (dense gradients, graphkit's optimizer; the compared figures)
    and with Keras 3's Adam as it ships (under `keras3_adam`)."""
    size = Size(**spec["size"])
    with tempfile.TemporaryDirectory() as work:
        corpus = prepare(spec["data"], spec["corpus_pairs"], work)
    return dict(peer_quality(spec, corpus, size, dense_gradients=True),
                keras3_adam=peer_quality(spec, corpus, size, dense_gradients=False))


def peer_quality(spec, corpus, size: Size, dense_gradients: bool) -> dict:
    """Trains the peer `spec["bleu_steps"]` steps; its validation loss and greedy BLEU."""
    import nmt_peer
    import numpy as np

    from graphkit.data import vocabulary
    from graphkit.data.text_batches import pad_ids

    encoder, decoder, train_step = peer_model(corpus, size, spec["seed"], dense_gradients)
    batches = peer_batches(corpus, size.batch, spec["seed"])
    for _ in range(spec["bleu_steps"]):
        source, target, _ = next(batches)
        loss = train_step(source, target)
    validation = corpus.validation[:spec["bleu_pairs"]]
    sources, targets = validation_ids(corpus, spec["bleu_pairs"])
    source, _ = pad_ids(sources, corpus.max_source_length)
    target, _ = pad_ids(targets, corpus.max_target_length + 1)
    validation_loss = nmt_peer.make_validation_loss(encoder, decoder)
    sums = [validation_loss(source[i:i + 100], target[i:i + 100]) for i in range(0, len(source), 100)]
    greedy = nmt_peer.make_greedy_decoder(encoder, decoder, corpus.max_target_length)
    predicted = np.concatenate([greedy(source[i:i + 100]).numpy() for i in range(0, len(source), 100)])
    hypotheses = [vocabulary.decode(corpus.target_vocab, row) for row in predicted]
    return {"bleu": bleu(hypotheses, validation), "loss": float(loss.numpy()),
            "validation_loss": float(sum(total for total, _ in sums) / sum(count for _, count in sums)),
            "examples": hypotheses[:3]}


# -- graphkit ----------------------------------------------------------------------------------
def run_graphkit_throughput(spec) -> dict:
    from graphkit.models.translator import build_translator_training
    from graphkit.runtime.model_session import ModelSession
    from graphkit.runtime.translation import train_translator

    size = Size(**spec["size"])
    with tempfile.TemporaryDirectory() as work:
        corpus = prepare(spec["data"], size.pairs, work)
    config = corpus.config(embedding_dim=size.embedding, units=size.units)
    with ModelSession(build_translator_training(config, seed=spec["seed"])) as session:
        train = lambda steps: train_translator(  # noqa: E731
            session, corpus.source_ids, corpus.target_ids, epochs=10**9, batch_size=size.batch,
            seed=spec["seed"], max_steps=steps)
        train(spec["warmup_steps"])
        report = train(spec["steps"])[-1]
    return {"seconds": report.seconds, "target_tokens": report.target_tokens, "loss": report.loss,
            "peak_rss_mb": peak_rss_mb()}


def run_graphkit_bleu(spec) -> dict:
    from graphkit.models.translator import build_translator_inference, build_translator_training
    from graphkit.runtime.model_session import ModelSession
    from graphkit.runtime.translation import open_translator, train_translator, translate_all

    size = Size(**spec["size"])
    with tempfile.TemporaryDirectory() as work:
        corpus = prepare(spec["data"], spec["corpus_pairs"], work)
        config = corpus.config(embedding_dim=size.embedding, units=size.units)
        validation = corpus.validation[:spec["bleu_pairs"]]
        checkpoints = os.path.join(work, "checkpoints")
        with ModelSession(build_translator_training(config, seed=spec["seed"]),
                          checkpoint_dir=checkpoints) as session:
            reports = train_translator(session, corpus.source_ids, corpus.target_ids, epochs=10**9,
                                       batch_size=size.batch, seed=spec["seed"], max_steps=spec["bleu_steps"])
            validation_loss = graphkit_validation_loss(session, *validation_ids(corpus, spec["bleu_pairs"]))
        inference = build_translator_inference(config, corpus.source_vocabulary_path,
                                               corpus.target_vocabulary_path)
        with open_translator(inference, checkpoints) as session:
            spanish = [pair[0] for pair in validation]
            greedy = translate_all(session, inference, spanish, signature="greedy")
            beam = translate_all(session, inference, spanish, signature="beam_search")
    return {"bleu": bleu(greedy, validation), "beam_bleu": bleu(beam, validation), "loss": reports[-1].loss,
            "validation_loss": validation_loss, "examples": list(greedy[:3])}


def graphkit_validation_loss(session, sources, targets) -> float:
    """The training graph's masked loss over validation pairs, per target word (teacher forcing)."""
    from graphkit.data.text_batches import padded_batches

    model = session.model
    total = count = 0.0
    for batch in padded_batches(sources, targets, 100, seed=0, bucket=False):
        words = float(batch["target_length"].sum() - len(batch["target_length"]))
        feed = {model.feedable[name]: batch[name] for name in batch}
        total += float(session.session.run(model.loss, feed)) * words
        count += words
    return total / count


PHASES = {"peer": (run_peer_throughput, run_peer_bleu),
          "graphkit": (run_graphkit_throughput, run_graphkit_bleu)}


def run_side(side: str, spec: dict) -> dict:
    """One side's two phases in this process: throughput (whose peak RSS is kept), then quality.

    The peak RSS is read as the throughput phase ends, before the smaller quality
    model is built, so it is the throughput model's own.
    """
    run_throughput, run_bleu = PHASES[side]
    start = time.perf_counter()
    throughput = run_throughput(spec["throughput"])
    middle = time.perf_counter()
    quality = run_bleu(spec["quality"])
    return {"throughput": dict(throughput, wall_s=middle - start),
            "quality": dict(quality, wall_s=time.perf_counter() - middle)}


def run_worker(side: str, spec: dict) -> dict:
    """Runs one side in a fresh Python process; returns its JSON."""
    command = [sys.executable, os.path.abspath(__file__), "--worker", side, "--worker-spec", json.dumps(spec)]
    return run_json_worker(command, f"nmt_vs_eager: the {side} run")


def summarize(args, throughput: dict, quality: dict, size: Size, bleu_size: Size) -> dict:
    """The benchmark's figures from the workers' results."""
    rate = {side: throughput[side]["target_tokens"] / throughput[side]["seconds"] for side in SIDES}
    step = {side: throughput[side]["seconds"] / args.steps for side in SIDES}
    return {
        "size": args.size, "pairs": size.pairs, "units": size.units, "embedding": size.embedding,
        "batch": size.batch, "steps": args.steps, "warmup_steps": args.warmup_steps,
        "graphkit_tokens_per_s": rate["graphkit"], "peer_tokens_per_s": rate["peer"],
        "throughput_ratio": rate["graphkit"] / rate["peer"],
        "graphkit_step_s": step["graphkit"], "peer_step_s": step["peer"],
        "graphkit_peak_rss_mb": throughput["graphkit"]["peak_rss_mb"],
        "peer_peak_rss_mb": throughput["peer"]["peak_rss_mb"],
        "peak_rss_ratio": throughput["graphkit"]["peak_rss_mb"] / throughput["peer"]["peak_rss_mb"],
        "bleu_steps": args.bleu_steps, "bleu_pairs": args.bleu_pairs, "bleu_corpus_pairs": bleu_size.pairs,
        "bleu_units": bleu_size.units, "bleu_embedding": bleu_size.embedding,
        "graphkit_bleu": quality["graphkit"]["bleu"], "graphkit_beam_bleu": quality["graphkit"]["beam_bleu"],
        "peer_bleu": quality["peer"]["bleu"],
        "peer_keras3_adam_bleu": quality["peer"]["keras3_adam"]["bleu"],
        "graphkit_validation_loss": quality["graphkit"]["validation_loss"],
        "peer_validation_loss": quality["peer"]["validation_loss"],
        "peer_keras3_adam_validation_loss": quality["peer"]["keras3_adam"]["validation_loss"],
        "graphkit_phase_wall_s": [throughput["graphkit"]["wall_s"], quality["graphkit"]["wall_s"]],
        "peer_phase_wall_s": [throughput["peer"]["wall_s"], quality["peer"]["wall_s"]],
        "bleu_gap": quality["graphkit"]["bleu"] - quality["peer"]["bleu"],
        "bleu_gap_keras3_adam": quality["graphkit"]["bleu"] - quality["peer"]["keras3_adam"]["bleu"],
        "beam_gain": quality["graphkit"]["beam_bleu"] - quality["graphkit"]["bleu"],
        "graphkit_examples": quality["graphkit"]["examples"], "peer_examples": quality["peer"]["examples"],
    }


def print_table(s: dict) -> None:
    print(f"NMT with attention, {s['size']} size ({s['pairs']} pairs, units {s['units']}, embedding "
          f"{s['embedding']}, batch {s['batch']}): {s['steps']} timed steps after "
          f"{s['warmup_steps']} warm-up")
    print(f"{'':28}{'graphkit':>12}{'peer':>12}{'ratio':>10}")
    print(f"{'target tokens / s':28}{s['graphkit_tokens_per_s']:>12.1f}{s['peer_tokens_per_s']:>12.1f}"
          f"{s['throughput_ratio']:>9.2f}x")
    print(f"{'seconds / step':28}{s['graphkit_step_s']:>12.3f}{s['peer_step_s']:>12.3f}"
          f"{s['peer_step_s'] / s['graphkit_step_s']:>9.2f}x")
    print(f"{'peak RSS (MiB)':28}{s['graphkit_peak_rss_mb']:>12.0f}{s['peer_peak_rss_mb']:>12.0f}"
          f"{s['peak_rss_ratio']:>9.2f}x")
    print(f"quality after {s['bleu_steps']} steps ({s['bleu_corpus_pairs']} pairs, units {s['bleu_units']}, "
          f"embedding {s['bleu_embedding']}), BLEU-4 on {s['bleu_pairs']} validation pairs")
    print(f"{'BLEU, greedy':28}{s['graphkit_bleu']:>12.2f}{s['peer_bleu']:>12.2f}{s['bleu_gap']:>+10.2f}")
    print(f"{'validation loss / word':28}{s['graphkit_validation_loss']:>12.3f}"
          f"{s['peer_validation_loss']:>12.3f}")
    print(f"{'BLEU, beam search':28}{s['graphkit_beam_bleu']:>12.2f}{'-':>12}{s['beam_gain']:>+10.2f}")
    print("the peer with Keras 3's Adam as it ships (repeated embedding rows squared one by one):")
    print(f"{'BLEU, greedy':28}{s['graphkit_bleu']:>12.2f}{s['peer_keras3_adam_bleu']:>12.2f}"
          f"{s['bleu_gap_keras3_adam']:>+10.2f}")
    print(f"{'validation loss / word':28}{s['graphkit_validation_loss']:>12.3f}"
          f"{s['peer_keras3_adam_validation_loss']:>12.3f}")
    for side in ("graphkit", "peer"):
        print(f"{side} translates: " + " | ".join(s[f"{side}_examples"]))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="tutorial", choices=sorted(SIZES),
                        help="model size of the throughput phase (quality always uses 'small')")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps of each side")
    parser.add_argument("--warmup-steps", type=int, default=3)
    parser.add_argument("--bleu-steps", type=int, default=1500, help="training steps before BLEU")
    parser.add_argument("--bleu-pairs", type=int, default=500, help="validation pairs scored")
    parser.add_argument("--bleu-corpus-pairs", type=int, default=SIZES["small"].pairs,
                        help="pairs (the corpus's first) of the quality phase")
    parser.add_argument("--data", default=None, metavar="PATH",
                        help="spa-eng.zip or spa.txt (default: the public zip, downloaded and cached)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help=f"few steps and pairs: {QUICK}")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--worker-spec", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(run_side(args.worker, json.loads(args.worker_spec))))
        return 0
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, value)
    for name in ("steps", "warmup_steps", "bleu_steps", "bleu_pairs", "bleu_corpus_pairs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.data:
        args.data = os.path.abspath(os.path.expanduser(args.data))
    size = SIZES[args.size]
    bleu_size = dataclasses.replace(SIZES["small"], pairs=args.bleu_corpus_pairs)
    base = {"data": args.data, "seed": args.seed}
    spec = {"throughput": dict(base, size=dataclasses.asdict(size), steps=args.steps,
                               warmup_steps=args.warmup_steps),
            "quality": dict(base, size=dataclasses.asdict(bleu_size), corpus_pairs=bleu_size.pairs,
                            bleu_steps=args.bleu_steps, bleu_pairs=args.bleu_pairs)}
    results = {side: run_worker(side, spec) for side in SIDES}
    throughput = {side: results[side]["throughput"] for side in SIDES}
    quality = {side: results[side]["quality"] for side in SIDES}
    summary = summarize(args, throughput, quality, size, bleu_size)
    print_table(summary)
    if args.json:
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
