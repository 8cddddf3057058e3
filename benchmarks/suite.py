"""The benchmarks `make bench` runs, each in a quick mode, and the targets it checks.

Every benchmark script prints a readable table and, with `--json`, one JSON
object of its figures as its last line. An entry here names the script, the
arguments of its quick mode, and the targets read from that JSON object. A
benchmark module adds its own entry when it is written.

    Benchmark("xla_speedup.py", ("--quick",),
              (Target("elementwise_speedup", ">=", 2.0, "XLA speedup, element-wise chain"),))
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Target:
    """A figure of a benchmark's JSON object and the bound it must meet.

    Attributes:
      key: the JSON key of the figure (dots reach into nested objects: `default.svg_s`).
      op: "<=", ">=", "<" or ">": how the measured figure compares with `bound` when met.
      bound: the target value.
      label: what the figure is, for the table.
    """

    key: str
    op: str
    bound: float
    label: str


@dataclasses.dataclass(frozen=True)
class Benchmark:
    """One script under benchmarks/, the arguments of its quick mode, and its targets."""

    script: str
    quick_args: tuple[str, ...]
    targets: tuple[Target, ...]
    timeout_s: float = 900.0


BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark("mnist_vs_keras.py", ("--epochs", "2", "--batch-size", "256", "--repeats", "1",
                                    "--matmul-repeats", "50"), (
        Target("speedup_vs_keras", ">=", 1.0, "hello world, batch 256: speed vs Keras (2x at batch 32)"),
        Target("graphkit_vs_bound", "<=", 1.5, "hello world, batch 256: epoch vs matmul bound"),
        Target("accuracy_gap_points", "<=", 0.3, "hello world: accuracy gap to Keras (points)"),
    ), timeout_s=1200.0),
    Benchmark("dataflow_parallelism.py", ("--quick",), (
        Target("speedup_ratio", ">=", 0.8, "k branches: measured / min(k, cores, work/span)"),
    )),
    Benchmark("cpp_vs_python_latency.py", ("--repeat", "300", "--rounds", "1"), (
        Target("ratio", "<=", 0.5, "batch-1 latency, C++ / Python p50"),
        Target("max_abs_diff", "<=", 1e-6, "largest |C++ - Python|"),
    )),
    Benchmark("xla_speedup.py", ("--quick",), (
        Target("elementwise_speedup", ">=", 2.0, "XLA, 16-op element-wise chain: speedup"),
        Target("elementwise_vs_limit", "<=", 2.0, "XLA, element-wise chain: time / memory-bandwidth limit"),
        Target("max_rel_diff", "<=", 1e-5, "XLA: largest relative difference from the plain graph"),
        Target("train_step_cpu_speedup_b256", ">=", 0.9,
               "XLA, hello world batch 256: CPU time plain / best XLA scope (XLA costs at most 10%)"),
    )),
    Benchmark("nmt_vs_eager.py", ("--quick", "--data", "../shared/data/spa-eng.zip"), (
        Target("throughput_ratio", ">=", 1.5, "NMT, tutorial size: target tokens/s vs Keras tf.function"),
        Target("peak_rss_ratio", "<=", 1.0, "NMT, tutorial size: peak RSS, graphkit / peer"),
        Target("bleu_gap", ">=", 0.0, "NMT, small size: BLEU graphkit - peer (same Adam), same steps"),
        Target("beam_gain", ">=", 0.0, "NMT, small size: BLEU beam search - greedy"),
    ), timeout_s=1200.0),
    Benchmark("distributed_scaling.py", ("--quick",), (
        Target("scaling", ">=", 1.4, "hello world, 1 ps: examples/s of 2 workers / 1 worker"),
        Target("bytes_ratio", "<=", 1.10, "hello world, 1 ps: bytes a worker's step moves / minimum"),
    )),
    Benchmark("render_large.py", ("--quick",), (
        Target("svg_s", "<", 1.0, "10,000-op graph: default view, GraphDef to SVG (s)"),
        Target("detailed_svg_s", "<", 10.0, "10,000-op graph: detailed view, GraphDef to SVG (s)"),
        Target("detailed_boxes", ">=", 1000, "10,000-op graph: boxes in the detailed view"),
    )),
)
