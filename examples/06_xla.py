"""XLA on hand-built graphs: the same graphs with and without compilation.

The third claim made for dataflow graphs is that the graph lets a compiler
generate faster code, for example by fusing adjacent ops. Two graphs show
where that holds on this CPU and where it does not:

1. A chain of 16 element-wise ops over a few million floats
   (graphkit.models.elementwise). Without XLA each op reads and writes the
   whole array; XLA fuses the chain into one loop. Built plainly, inside a
   `jit_scope`, and as a function XLA must compile.
2. The hello-world training step (graphkit.models.hello_mnist) with nothing,
   the whole step, or one part of it marked for XLA (`XLA_SCOPES`). Its
   matmuls are as fast either way; what XLA adds is a compile/run hand-off
   per cluster and step, which a small batch does not pay back.
3. The translator's training step (graphkit.models.translator: a GRU encoder,
   an attention decoder stepping through a while loop) in a plain session and
   in one that auto-clusters: TensorFlow finds the clusters itself, inside the
   recurrent step too. Auto-clustering on CPU needs a flag set before the
   process's first session, so the example sets it first thing.

Each output is compared with the plain graph's (largest relative difference)
and each time with the plain graph's (speedup). XLA compiles a cluster on a
later run than its first, so everything is warmed up before it is timed.

    python examples/06_xla.py [--size 4000000] [--batch-size 32] [--units 256] [--json]
"""

import argparse
import json
import sys
import time

from graphkit.quiet import import_tensorflow

tf = import_tensorflow()
import numpy as np  # noqa: E402

from graphkit.errors import GraphkitError  # noqa: E402
from graphkit.models import elementwise  # noqa: E402
from graphkit.models.hello_mnist import XLA_SCOPES, build_hello_mnist  # noqa: E402
from graphkit.models.translator import TranslatorConfig, build_translator_training  # noqa: E402
from graphkit.runtime import xla  # noqa: E402
from graphkit.runtime.model_session import ModelSession  # noqa: E402

v1 = tf.compat.v1


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="The same graphs with and without XLA.")
    parser.add_argument("--size", type=int, default=4_000_000, help="floats in the element-wise chain")
    parser.add_argument("--batch-size", type=int, default=32, help="hello-world training batch")
    parser.add_argument("--steps", type=int, default=100, help="hello-world steps per timed epoch")
    parser.add_argument("--repeats", type=int, default=20, help="timed runs of the chain per variant")
    parser.add_argument("--units", type=int, default=256, help="translator: GRU units")
    parser.add_argument("--sentence-length", type=int, default=12, help="translator: tokens per sentence")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line at the end")
    return parser.parse_args(argv)


def relative_difference(values, reference) -> float:
    values, reference = np.asarray(values), np.asarray(reference)
    return float(np.max(np.abs(values - reference) / np.maximum(np.abs(reference), 1e-30)))


def run_chain(build, size: int, repeats: int):
    """(y, fastest ms per run of the store op) of the chain built with `build`."""
    model = elementwise.build_elementwise_chain(size, build=build)
    with model.graph.as_default():
        init = v1.global_variables_initializer()
    with v1.Session(graph=model.graph) as session:
        session.run(init)
        store = session.make_callable(model.graph.get_operation_by_name(elementwise.STORE_OP))
        for _ in range(xla.WARMUP_RUNS + 1):  # compilation happens here
            store()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            store()
            times.append(time.perf_counter() - start)
        return session.run(model.outputs[elementwise.OUTPUT]), min(times) * 1000


def run_training(scopes, batch: dict, data: dict, batch_size: int):
    """(loss before and after one step on `batch`, fastest ms per step of 3 epochs after the first)."""
    model = build_hello_mnist(seed=1)
    if scopes:
        xla.mark_scopes(model.graph, scopes)
    with ModelSession(model) as session:
        before = session.run(model.loss, batch)
        session.run(model.train_op, batch)
        losses = (before, session.run(model.loss, batch))
        results = session.fit(data, epochs=4, batch_size=batch_size, progress=False, seed=1)
    return losses, min(r.seconds / r.steps * 1000 for r in results[1:])  # epoch 1 compiles


def run_translator(config, args):
    """(loss before and after the timed steps, fastest ms per training step) of the translator on
    one random batch of 32 sentence pairs, in a session with `config`."""
    model = build_translator_training(TranslatorConfig(source_vocab_size=1000, target_vocab_size=1000,
                                                       embedding_dim=64, units=args.units, beam_width=1),
                                      seed=1)
    rng = np.random.default_rng(0)
    shape = (32, args.sentence_length)
    feed = {model.inputs["source"]: rng.integers(1, 1000, shape).astype(np.int32),
            model.inputs["source_length"]: np.full(32, args.sentence_length, np.int32),
            model.targets["target"]: rng.integers(1, 1000, shape).astype(np.int32),
            model.targets["target_length"]: np.full(32, args.sentence_length, np.int32)}
    with model.graph.as_default():
        init = v1.global_variables_initializer()
    with v1.Session(graph=model.graph, config=config) as session:
        session.run(init)
        before = session.run(model.loss, feed)
        step = session.make_callable(model.train_op, feed_list=list(feed))
        for _ in range(xla.WARMUP_RUNS + 1):
            step(*feed.values())
        times = []
        for _ in range(10):
            start = time.perf_counter()
            step(*feed.values())
            times.append(time.perf_counter() - start)
        return (before, session.run(model.loss, feed)), min(times) * 1000


def main(argv=None) -> int:
    args = parse_args(argv)
    # First, before any session: TensorFlow reads its XLA flags once (part 3 auto-clusters).
    xla.enable_xla_flags(auto_clustering=True)

    # 1. The element-wise chain: plain, in a jit_scope, as a compiled function.
    chain = {}
    for name, build in (("plain", None), ("jit_scope", xla.compile_in_jit_scope),
                        ("function", xla.compile_function)):
        chain[name] = run_chain(build, args.size, args.repeats)
    print(f"element-wise chain: 16 ops over {args.size:,} float32")
    print(f"{'variant':<12}{'ms':>9}{'speedup':>9}{'max rel diff':>14}")
    plain_y, plain_ms = chain["plain"]
    for name, (y, ms) in chain.items():
        print(f"{name:<12}{ms:>9.2f}{plain_ms / ms:>9.2f}{relative_difference(y, plain_y):>14.2e}")

    # 2. The hello-world training step: nothing, the whole step, or one part compiled.
    rng = np.random.default_rng(0)
    examples = args.batch_size * args.steps
    data = {"x": rng.random((examples, 28, 28), dtype=np.float32),
            "labels": rng.integers(0, 10, examples).astype(np.int32)}
    batch = {name: values[:args.batch_size] for name, values in data.items()}
    training = {name: run_training(scopes, batch, data, args.batch_size)
                for name, scopes in {"none": (), **XLA_SCOPES}.items()}
    print(f"\nhello-world training step, batch {args.batch_size} (fastest of 3 epochs of {args.steps} steps)")
    print(f"{'XLA':<9}{'ms/step':>9}{'speedup':>9}{'max rel diff':>14}  scopes")
    plain_losses, plain_step = training["none"]
    for name, (losses, ms) in training.items():
        difference = relative_difference(losses, plain_losses)
        print(f"{name:<9}{ms:>9.3f}{plain_step / ms:>9.2f}{difference:>14.2e}  "
              f"{' '.join(XLA_SCOPES.get(name, ())) or '-'}")

    # 3. The translator's training step: a plain session, and one that auto-clusters.
    translator = {"none": run_translator(None, args),
                  "session": run_translator(xla.auto_clustering_config(), args)}
    print(f"\ntranslator training step, batch 32, {args.sentence_length} tokens, {args.units} GRU units "
          f"(fastest of 10 steps)")
    print(f"{'XLA':<9}{'ms/step':>9}{'speedup':>9}{'max rel diff':>14}")
    plain_losses, plain_step = translator["none"]
    for name, (losses, ms) in translator.items():
        print(f"{name:<9}{ms:>9.2f}{plain_step / ms:>9.2f}{relative_difference(losses, plain_losses):>14.2e}")

    if args.json:
        print(json.dumps({
            "size": args.size, "batch_size": args.batch_size,
            "chain_ms": {name: ms for name, (_, ms) in chain.items()},
            "chain_max_rel_diff": {name: relative_difference(y, plain_y) for name, (y, _) in chain.items()},
            "train_step_ms": {name: ms for name, (_, ms) in training.items()},
            "train_max_rel_diff": {name: relative_difference(losses, training["none"][0])
                                   for name, (losses, _) in training.items()},
            "translator_step_ms": {name: ms for name, (_, ms) in translator.items()},
            "translator_max_rel_diff": {name: relative_difference(losses, plain_losses)
                                        for name, (losses, _) in translator.items()}}))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except GraphkitError as err:
        print(f"06_xla: error: {err}", file=sys.stderr)
        sys.exit(2)
