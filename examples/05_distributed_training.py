"""Distributed training on TensorFlow's own runtime: parameter servers, workers, gRPC.

The hello-world model is trained by between-graph replication: each worker
process builds the same graph under `replica_device_setter`, so the variables
live on the parameter servers and each worker computes gradients on its own
shard of the data and pushes them there. Worker 0, the chief, initialises the
model (or restores its last checkpoint) and writes checkpoints. TensorFlow
inserts every transfer itself: a worker's step pulls the variables from the
parameter server and sends back one gradient per variable.

By default the whole cluster runs here, one process per task on loopback
ports, and this script is its cluster manager: it restarts a task that dies.
`--kill TASK@STEP` kills a task with SIGKILL once the global step passes STEP,
to watch the recovery:

    python examples/05_distributed_training.py --workers 2 --last-step 1500 \\
        --kill worker:1@300 --kill worker:0@700 --kill ps:0@1100

On real hosts, run the same script on every host with the cluster in a file
(or in TF_CONFIG, which sets the task too); each process runs its own task:

    python examples/05_distributed_training.py --cluster cluster.json --task ps:0       # host 1
    python examples/05_distributed_training.py --cluster cluster.json --task worker:0   # host 2
    python examples/05_distributed_training.py --cluster cluster.json --task worker:1   # host 3

(the checkpoint directory must then be shared by the chief and the parameter
servers, which write it). `--attach` trains through the servers that
`graphkit cluster start` left running instead of starting one in this process.
"""

import argparse
import json
import os
import shutil
import signal
import sys
import time

from graphkit.quiet import import_tensorflow  # noqa: E402

import_tensorflow()
from graphkit.errors import ClusterError, GraphkitError  # noqa: E402
from graphkit.runtime.cluster import local_cluster  # noqa: E402
from graphkit.runtime.cluster_spec import PS_JOB, TaskId, resolve_cluster  # noqa: E402
from graphkit.runtime.distributed import CHECKPOINT_DIR, PROGRESS_DIR, TrainingOptions, train_worker  # noqa: E402
from graphkit.runtime.local_job import LocalJob  # noqa: E402
from graphkit.runtime.serve_task import start_server  # noqa: E402

EXAMPLE_DEFAULTS = {"last_step": 1000, "batch_size": 64, "checkpoint_every": 100, "log_every": 100}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="out/distributed", help="checkpoints, progress and logs")
    parser.add_argument("--fresh", action="store_true", help="start from scratch: remove earlier checkpoints")
    parser.add_argument("--ps", type=int, default=1, help="local cluster: parameter servers (default: 1)")
    parser.add_argument("--workers", type=int, default=2, help="local cluster: workers (default: 2)")
    parser.add_argument("--kill", action="append", default=[], metavar="TASK@STEP",
                        help="local cluster: kill TASK with SIGKILL once the global step reaches STEP")
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="local cluster: seconds for the whole job")
    parser.add_argument("--cluster", metavar="FILE", help="real hosts: the cluster file; run --task of it")
    parser.add_argument("--ps-hosts", metavar="H:P,...", help="real hosts: parameter server addresses")
    parser.add_argument("--worker-hosts", metavar="H:P,...", help="real hosts: worker addresses")
    parser.add_argument("--task", metavar="JOB:INDEX",
                        help="real hosts: this process's task (else TF_CONFIG's)")
    parser.add_argument("--attach", action="store_true",
                        help="real hosts: train through the task's running server (graphkit cluster start)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line at the end")
    TrainingOptions.add_arguments(parser)
    parser.set_defaults(**EXAMPLE_DEFAULTS)
    return parser.parse_args(argv)


def parse_kills(specs):
    """["worker:1@300"] -> [(300, TaskId("worker", 1))], sorted by step."""
    kills = []
    for spec in specs:
        task, sep, step = spec.partition("@")
        if not sep or not step.isdigit():
            raise ClusterError(f"--kill {spec}: expected TASK@STEP such as worker:1@300")
        kills.append((int(step), TaskId.parse(task)))
    return sorted(kills)


def run_local(args, options) -> dict:
    """The whole cluster here, this process its manager; returns the figures."""
    cluster = local_cluster(args.ps, args.workers)
    kills = parse_kills(args.kill)
    for _, task in kills:
        cluster.check_task(task)
    if args.fresh:
        for name in (CHECKPOINT_DIR, PROGRESS_DIR):
            shutil.rmtree(os.path.join(args.output, name), ignore_errors=True)
    print(f"local cluster: {', '.join(f'{t} at {cluster.address(t)}' for t in cluster.tasks())}")
    start = time.monotonic()
    log = lambda line: print(f"launcher: {line}", flush=True)  # noqa: E731
    with LocalJob(cluster, args.output, options, log=log) as job:
        deadline = time.monotonic() + args.timeout
        while job.poll():
            step = job.global_step() or 0
            while kills and step >= kills[0][0]:
                _, task = kills.pop(0)
                log(f"killing {task} (pid {job.kill(task, signal.SIGKILL)}) at global step {step}")
            if time.monotonic() > deadline:
                raise GraphkitError(f"training job: not finished within {args.timeout:.0f} s")
            time.sleep(0.2)
        result = job.result()
    seconds = time.monotonic() - start
    print(f"\n{'worker':<10} {'global step':>11} {'local steps':>11} {'examples/s':>10} {'accuracy':>8}")
    for task, record in sorted(result.done.items()):
        rate = "-" if record.get("examples_per_s") is None else f"{record['examples_per_s']:.0f}"
        accuracy = "" if record.get("accuracy") is None else f"{record['accuracy']:.4f}"
        print(f"{task:<10} {record.get('global_step', '-'):>11} {record.get('local_steps', '-'):>11} "
              f"{rate:>10} {accuracy:>8}")
    print(f"last checkpoint: {result.checkpoint} (global step {result.checkpoint_step}); {seconds:.1f} s; "
          f"{len(result.events) - len(result.done)} incident(s) handled")
    chief = result.done.get("worker:0", {})
    return {"mode": "local", "ps": args.ps, "workers": args.workers, "last_step": options.last_step,
            "checkpoint": result.checkpoint, "checkpoint_step": result.checkpoint_step,
            "accuracy": chief.get("accuracy"), "seconds": seconds,
            "events": [event.line for event in result.events], "done": result.done}


def run_task(cluster, args, options) -> dict:
    """This process's task of a real cluster: serve as a parameter server, or train as a worker."""
    if cluster.task is None:
        raise GraphkitError(f"{cluster.source}: no task for this process; pass --task JOB:INDEX")
    if cluster.task.job == PS_JOB:
        server = start_server(cluster)
        print(f"{cluster.task}: serving at {server.target} until stopped", flush=True)
        server.join()
        return {}
    target = f"grpc://{cluster.address(cluster.task)}" if args.attach else None
    result = train_worker(cluster, options, args.output, target=target,
                          echo=lambda line: print(line, flush=True))
    return {"mode": "task", "task": str(cluster.task), **result}


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        options = TrainingOptions.from_args(args)
        cluster = resolve_cluster(args.cluster, args.ps_hosts, args.worker_hosts, args.task)
        figures = run_local(args, options) if cluster is None else run_task(cluster, args, options)
    except GraphkitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json and figures:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
