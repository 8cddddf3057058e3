"""Data-parallel scaling on TensorFlow's distributed runtime, and the bytes each step moves.

Trains the hello-world model by between-graph replication on a local cluster of
1 parameter server and 1, then 2, workers (one process each, one intra-op and
one inter-op thread each) at a batch size where compute dominates, and reports:

- examples per second of the whole job: each worker logs the time of every
  local step; the rate is counted over the window in which every worker was
  past its warm-up steps and none had finished;
- bytes one worker's step moves between tasks, from the step stats of a traced
  step (the `RecvTensor` entries on both sides), against the minimum for this
  architecture: every parameter pulled once and one gradient per parameter
  pushed, 2 x 4 bytes x parameters.

    python benchmarks/distributed_scaling.py [--batch-size 512 --steps 150] [--quick] [--json]

Targets (benchmarks/suite.py): scaling >= 1.4 on 2 cores; bytes_ratio <= 1.10.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from graphkit.runtime.cluster import local_cluster  # noqa: E402
from graphkit.runtime.cluster_spec import TaskId  # noqa: E402
from graphkit.runtime.distributed import SYNTHETIC, TrainingOptions  # noqa: E402
from graphkit.runtime.local_job import LocalJob  # noqa: E402

WARMUP_STEPS = 10


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=512, help="examples per step per worker")
    parser.add_argument("--steps", type=int, default=150, help="local steps per worker after warm-up")
    parser.add_argument("--quick", action="store_true", help="batch 256, 120 steps per worker")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per training job")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line at the end")
    args = parser.parse_args(argv)
    if args.quick:
        args.batch_size, args.steps = 256, 120
    return args


def windowed_rate(step_logs: dict, batch_size: int) -> tuple[float, float]:
    """(examples per second, window seconds) over the time all workers ran timed steps together.

    Args:
      step_logs: task -> [(time, local step)] of its steps after warm-up, in order.
    """
    start = max(log[0][0] for log in step_logs.values())
    end = min(log[-1][0] for log in step_logs.values())
    if end <= start:
        raise RuntimeError("the workers' timed steps did not overlap; raise --steps")
    steps = sum(_steps_at(log, end) - _steps_at(log, start) for log in step_logs.values())
    return steps * batch_size / (end - start), end - start


def _steps_at(log, moment: float) -> float:
    """Local steps done at `moment`, interpolated between logged steps."""
    for (t0, s0), (t1, s1) in zip(log, log[1:]):
        if t0 <= moment <= t1:
            return s0 + (s1 - s0) * (moment - t0) / (t1 - t0) if t1 > t0 else s1
    return log[-1][1] if moment >= log[-1][0] else log[0][1]


def measure(workers: int, args) -> dict:
    """Trains on 1 ps and `workers` workers; returns the job's examples/s and worker 0's bytes per step.

    Each worker process starts TensorFlow at its own pace, so the job runs until every
    worker has logged `args.steps` steps past its warm-up, and is then stopped.
    """
    options = TrainingOptions(last_step=10**9, batch_size=args.batch_size, checkpoint_every=10**9,
                              log_every=1, intra_op=1, inter_op=1, warmup_steps=WARMUP_STEPS,
                              trace_step=WARMUP_STEPS // 2, dataset=SYNTHETIC, operation_timeout_s=120.0)
    tasks = [TaskId("worker", index) for index in range(workers)]
    with tempfile.TemporaryDirectory(prefix="graphkit-scaling-") as output:
        with LocalJob(local_cluster(ps=1, workers=workers), output, options, max_restarts=0,
                      log=lambda line: None) as job:
            deadline = time.monotonic() + args.timeout
            while True:
                logs = {task: [(r["time"], r["local_step"]) for r in job.progress(task)
                               if r["event"] == "step" and r["local_step"] >= WARMUP_STEPS] for task in tasks}
                if all(len(log) > args.steps for log in logs.values()):
                    break
                if not job.poll() or time.monotonic() > deadline:
                    raise RuntimeError(f"{workers} worker(s): not {args.steps} timed steps each "
                                       f"within {args.timeout:.0f} s")
                time.sleep(0.5)
            traffic = [r for r in job.progress(tasks[0]) if r["event"] == "traffic"][-1]
    rate, window = windowed_rate(logs, args.batch_size)
    return {"examples_per_s": rate, "window_s": window, "bytes_per_step": traffic["bytes_per_step"],
            "bytes_minimum": traffic["bytes_minimum"], "bytes_by_direction": traffic["bytes_by_direction"]}


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    one = measure(1, args)
    two = measure(2, args)
    scaling = two["examples_per_s"] / one["examples_per_s"]
    figures = {
        "batch_size": args.batch_size, "steps": args.steps, "quick": args.quick,
        "examples_per_s_1": one["examples_per_s"], "examples_per_s_2": two["examples_per_s"],
        "scaling": scaling, "bytes_per_step": two["bytes_per_step"], "bytes_minimum": two["bytes_minimum"],
        "bytes_ratio": two["bytes_per_step"] / two["bytes_minimum"],
        "bytes_per_step_1": one["bytes_per_step"], "bytes_by_direction": two["bytes_by_direction"],
        "window_s_1": one["window_s"], "window_s_2": two["window_s"],
        "load_average_1min": os.getloadavg()[0], "cores": os.cpu_count(),
        "seconds": time.monotonic() - started,
    }
    print(f"hello world, between-graph replication, 1 ps, batch {args.batch_size} per worker, "
          f"1 intra-op thread per worker, {args.steps} timed steps per worker")
    print(f"{'workers':>7} {'examples/s':>11} {'window s':>9} {'bytes/step':>11} {'minimum':>11} "
          f"{'ratio':>6}")
    for workers, run in ((1, one), (2, two)):
        print(f"{workers:>7} {run['examples_per_s']:>11.0f} {run['window_s']:>9.1f} "
              f"{run['bytes_per_step']:>11} {run['bytes_minimum']:>11} "
              f"{run['bytes_per_step'] / run['bytes_minimum']:>6.3f}")
    print(f"scaling, 2 workers / 1: {scaling:.2f}x (target >= 1.4); bytes per step / minimum: "
          f"{figures['bytes_ratio']:.4f} (target <= 1.10); load average {figures['load_average_1min']:.1f} "
          f"on {figures['cores']} cores")
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
