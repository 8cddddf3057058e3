"""Between-graph replicated, data-parallel training of the hello-world model.

Every worker process builds the same graph under
`tf.compat.v1.train.replica_device_setter`: variables (and the optimizer's
slots and the global step) live on the parameter servers, everything else on
the worker. Each worker trains on its own shard of the data and pushes its
gradients to the parameter servers asynchronously. Worker 0 is the chief: it
initialises the variables, or restores them from the latest checkpoint, and
writes a checkpoint every `checkpoint_every` global steps; the other workers
wait until the model is ready. Each worker's session has `device_filters` of
the parameter servers and itself, so it neither waits for nor depends on the
other workers.

    python -m graphkit.runtime.distributed --cluster-json '{"ps": [...], "worker": [...]}' \\
        --task worker:1 --output-dir out/distributed --last-step 2000

Faults: a step that loses a parameter server raises TensorFlow's
`UnavailableError` (or `AbortedError`, or `DeadlineExceededError` after
`operation_timeout_s`); the worker then logs one line and exits with
`EXIT_CLUSTER_LOST`, for its cluster manager (`graphkit.runtime.local_job`
locally, Kubernetes on real hosts) to restart the cluster. A bad cluster, task
or data exits with code 2 and one line.

Each worker appends JSON lines to `<output>/progress/worker_<i>.jsonl`
(session created, steps, checkpoints, lost, done); launchers and tests read them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import re
import sys
import time
from typing import Callable, Optional, Sequence

import numpy as np

from graphkit.errors import ClusterError, GraphkitError, tf_error_lines
from graphkit.quiet import import_tensorflow
from graphkit.runtime.cluster import wait_until_answering
from graphkit.runtime.cluster_spec import PS_JOB, WORKER_JOB, ClusterSpecification, TaskId
from graphkit.runtime.configs import cluster_config
from graphkit.runtime.serve_task import start_server

tf = import_tensorflow()
v1 = tf.compat.v1

EXIT_CLUSTER_LOST = 75  # EX_TEMPFAIL: the cluster lost a task; restart it and try again
CHECKPOINT_DIR = "checkpoints"
PROGRESS_DIR = "progress"
LOG_DIR = "logs"
SYNTHETIC = "synthetic"  # random images, for throughput measurements where the data does not matter


@dataclasses.dataclass(frozen=True)
class TrainingOptions:
    """How each worker trains.

    Attributes:
      last_step: training stops when the global step reaches this.
      batch_size: examples per step per worker.
      learning_rate: Adam's learning rate.
      checkpoint_every: the chief saves a checkpoint every this many global steps.
      log_every: a progress line every this many local steps.
      intra_op, inter_op: the worker's thread pools (0: TensorFlow picks).
      operation_timeout_s: a step waiting longer than this on a remote task fails.
      wait_s: how long a worker waits for the parameter servers and the chief's model.
      min_step_s: each local step takes at least this long (0: as fast as it runs);
        demonstrations and tests use it to kill tasks mid-training.
      trace_step: the local step traced to count the bytes it moves (0: none).
      warmup_steps: local steps left out of examples per second.
      dataset: "mnist", "fashion-mnist" or "synthetic".
      data_path: a local copy of the dataset (.npz or IDX directory), else found or downloaded.
      seed: seeds the graph, the data order and the synthetic data.
    """

    last_step: int = 1000
    batch_size: int = 64
    learning_rate: float = 1e-3
    checkpoint_every: int = 100
    log_every: int = 50
    intra_op: int = 1
    inter_op: int = 2
    operation_timeout_s: float = 30.0
    wait_s: float = 120.0
    min_step_s: float = 0.0
    trace_step: int = 0
    warmup_steps: int = 5
    dataset: str = "fashion-mnist"
    data_path: Optional[str] = None
    seed: int = 0

    def __post_init__(self):
        for name, least in (("last_step", 1), ("batch_size", 1), ("checkpoint_every", 1), ("log_every", 1),
                            ("intra_op", 0), ("inter_op", 0), ("trace_step", 0), ("warmup_steps", 0)):
            if getattr(self, name) < least:
                raise ClusterError(f"--{name.replace('_', '-')}: expected an int >= {least}, "
                                   f"got {getattr(self, name)}")
        for name in ("operation_timeout_s", "wait_s"):
            if not getattr(self, name) > 0:
                raise ClusterError(f"--{name.replace('_', '-')}: expected seconds > 0, "
                                   f"got {getattr(self, name)}")

    def argv(self) -> list[str]:
        """These options as the command-line flags `add_arguments` reads."""
        flags = []
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is not None and value != field.default:
                flags += [f"--{field.name.replace('_', '-')}", str(value)]
        return flags

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Adds one flag per option (--last-step, --batch-size, ...) to `parser`."""
        for field in dataclasses.fields(cls):
            kind = type(field.default) if isinstance(field.default, (int, float)) else str
            parser.add_argument(f"--{field.name.replace('_', '-')}", type=kind, default=field.default,
                                help=f"(default: {field.default})")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "TrainingOptions":
        return cls(**{field.name: getattr(args, field.name) for field in dataclasses.fields(cls)})


def worker_devices(task: TaskId) -> list[str]:
    """The device filters of a worker's session: the parameter servers and the worker itself."""
    return [f"/job:{PS_JOB}", task.device]


def build_replicated_model(cluster: ClusterSpecification, task: TaskId, options: TrainingOptions):
    """The hello-world model of worker `task`, variables on `cluster`'s parameter servers.

    Returns:
      a GraphModel fed through placeholders (no in-graph pipeline, whose
      preloaded data would otherwise land on the parameter servers too).
    """
    from graphkit.models.hello_mnist import build_hello_mnist

    setter = v1.train.replica_device_setter(
        cluster=tf.train.ClusterSpec(cluster.as_dict()), worker_device=task.device)
    return build_hello_mnist(learning_rate=options.learning_rate, in_graph_pipeline=False,
                             seed=options.seed, device=setter)


def parameter_bytes(model) -> int:
    """Bytes of all trainable variables of `model`."""
    with model.graph.as_default():
        variables = v1.trainable_variables()
    return sum(math.prod(v.shape.as_list()) * v.dtype.base_dtype.size for v in variables)


def minimum_bytes_per_step(model) -> int:
    """Bytes a worker's step must move: each parameter pulled once, one gradient pushed per parameter."""
    return 2 * parameter_bytes(model)


def load_shard(options: TrainingOptions, task: TaskId, workers: int):
    """This worker's share of the training data and the test data, as float32 images and int32 labels.

    Worker i of n takes training examples i, i + n, i + 2n, ...
    """
    from graphkit.data.datasets import load_dataset, normalized_images

    if options.dataset == SYNTHETIC:
        rng = np.random.default_rng(options.seed)
        x_train = rng.integers(0, 256, (max(options.batch_size * 4, 256), 28, 28), dtype=np.uint8)
        y_train = rng.integers(0, 10, len(x_train), dtype=np.uint8)
        x_test, y_test = x_train[:256], y_train[:256]
    else:
        dataset = load_dataset(options.dataset, path=options.data_path)
        x_train, y_train, x_test, y_test = dataset.x_train, dataset.y_train, dataset.x_test, dataset.y_test
    shard = slice(task.index, None, workers)
    return ((normalized_images(x_train[shard]), y_train[shard].astype(np.int32)),
            (normalized_images(x_test), y_test.astype(np.int32)))


class ProgressLog:
    """This worker's JSON-lines progress file and its one-line log on stdout."""

    def __init__(self, output_dir: str, task: TaskId, echo: Callable[[str], None] = print):
        self.task = task
        self.path = progress_path(output_dir, task)
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self._echo = echo

    def event(self, event: str, line: str, **fields) -> None:
        record = {"event": event, "task": str(self.task), "pid": os.getpid(), "time": time.time(), **fields}
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        self._echo(f"[{self.task}] {line}")


def progress_path(output_dir: str, task: TaskId) -> str:
    """Where worker `task` appends its progress records."""
    return os.path.join(output_dir, PROGRESS_DIR, f"{task.job}_{task.index}.jsonl")


def read_progress(output_dir: str, task: TaskId) -> list[dict]:
    """The progress records of `task` so far (a line cut short by a kill is skipped)."""
    records = []
    try:
        with open(progress_path(output_dir, task), encoding="utf-8") as handle:
            for line in handle:
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
    except FileNotFoundError:
        pass
    return records


class ClusterLost(Exception):
    """A step or session lost a task of the cluster (TensorFlow's Unavailable/Aborted/DeadlineExceeded)."""


def train_worker(cluster: ClusterSpecification, options: TrainingOptions, output_dir: str,
                 target: Optional[str] = None, echo: Callable[[str], None] = print) -> dict:
    """Trains as worker `cluster.task` until the global step reaches `options.last_step`.

    Args:
      cluster: the cluster, seen from this worker's task.
      target: the gRPC address of this worker's running server; None starts one in this process.
    Returns:
      the "done" progress record: global_step, local_steps, examples_per_s and,
      when traced, bytes_per_step and bytes_minimum; the chief adds test accuracy.
    Raises:
      ClusterError: bad cluster or task, parameter servers that never answer.
      ClusterLost: a parameter server went away during training.
    """
    cluster.check_training_jobs()
    task = cluster.task
    if task is None or task.job != WORKER_JOB:
        raise ClusterError(f"{cluster.source}: training runs on a worker task, got {task}")
    config = cluster_config(worker_devices(task), options.operation_timeout_s,
                            options.intra_op, options.inter_op)
    server = None  # held until training ends: the server stops when it is garbage collected
    if target is None:
        server = start_server(cluster, config)
        target = server.target
    progress = ProgressLog(output_dir, task, echo)
    (x_train, y_train), (x_test, y_test) = load_shard(options, task, cluster.count(WORKER_JOB))
    model = build_replicated_model(cluster, task, options)
    checkpoint_dir = os.path.join(output_dir, CHECKPOINT_DIR)
    ps_tasks = [TaskId(PS_JOB, index) for index in range(cluster.count(PS_JOB))]

    with model.graph.as_default():
        scaffold = v1.train.Scaffold()
        hooks = [v1.train.StopAtStepHook(last_step=options.last_step)]
        if task.is_chief:
            hooks.append(v1.train.CheckpointSaverHook(
                checkpoint_dir, save_steps=options.checkpoint_every, scaffold=scaffold,
                listeners=[_CheckpointLog(progress, checkpoint_dir)]))

        def wait_for_parameter_servers():
            deadline = time.monotonic() + options.wait_s
            for ps in ps_tasks:
                wait_until_answering(ps, cluster.address(ps), max(0.0, deadline - time.monotonic()))

        creator = _ReplicaSessionCreator(task, scaffold, target, config, checkpoint_dir, options.wait_s,
                                         wait_for_parameter_servers, progress, model.global_step)
        feeds = (model.inputs["x"], model.targets["labels"], model.training)
        fetches = {"train": model.train_op, "loss": model.loss, "global_step": model.global_step}
        order = _batches(len(x_train), options.batch_size, options.seed * 1000 + task.index)
        local_step, global_step, started, result = 0, 0, None, {}
        traced = {}
        session = v1.train.MonitoredSession(session_creator=creator, hooks=hooks)
        try:
            while not session.should_stop():
                step_start = time.perf_counter()
                indices = next(order)
                feed = {feeds[0]: x_train[indices], feeds[1]: y_train[indices], feeds[2]: True}
                local_step += 1
                trace = options.trace_step and local_step == options.trace_step
                values = session.run_step_fn(_guarded_step(fetches, feed, trace, traced))
                global_step = int(values["global_step"])
                if trace:
                    traffic = _traffic(traced["run_metadata"], task, model)
                    progress.event("traffic", f"local step {local_step} moved {traffic['bytes_per_step']} "
                                   f"bytes between tasks (minimum {traffic['bytes_minimum']})",
                                   local_step=local_step, **traffic)
                if local_step == options.warmup_steps:
                    started = time.perf_counter()
                if local_step % options.log_every == 0:
                    progress.event("step", f"local step {local_step}, global step {global_step}, "
                                   f"loss {values['loss']:.4f}", global_step=global_step,
                                   local_step=local_step, loss=float(values["loss"]))
                if options.min_step_s:
                    time.sleep(max(0.0, options.min_step_s - (time.perf_counter() - step_start)))
            finished = time.perf_counter()
            timed = local_step - options.warmup_steps
            global_step = int(session.run_step_fn(  # after this worker's last update, not before it
                lambda step_context: step_context.session.run(model.global_step)))
            result = {"global_step": global_step, "local_steps": local_step,
                      "examples_per_s": (timed * options.batch_size / (finished - started)
                                         if started and timed > 0 else None)}
            if traced:
                result.update(traffic)
            if task.is_chief:  # through the raw session: the hooked one refuses to run once stopped
                test_feed = {feeds[0]: x_test[:2000], feeds[1]: y_test[:2000]}
                result["accuracy"] = float(session.run_step_fn(
                    lambda step_context: step_context.session.run(model.metrics["accuracy"], test_feed)))
        except ClusterLost as lost:
            # The session is left as it is: closing it would wait on the task that is gone.
            progress.event("lost", f"{lost} at global step {global_step}; exiting with code "
                           f"{EXIT_CLUSTER_LOST} for the cluster to be restarted",
                           global_step=global_step, error=str(lost))
            raise
        session.close()  # the chief's checkpoint hook saves the last step here
    progress.event("done", f"done at global step {result['global_step']} after {local_step} local steps",
                   **result)
    return result


def _guarded_step(fetches, feed, trace: bool, traced: dict):
    """A `run_step_fn` step that turns a lost task into ClusterLost.

    MonitoredSession would otherwise catch UnavailableError and AbortedError and
    quietly rebuild its session; here the cluster manager restarts the cluster instead.
    """
    lost_errors = (tf.errors.UnavailableError, tf.errors.AbortedError, tf.errors.DeadlineExceededError)

    def step_fn(step_context):
        kwargs = {}
        if trace:
            kwargs = {"options": v1.RunOptions(trace_level=v1.RunOptions.FULL_TRACE),
                      "run_metadata": v1.RunMetadata()}
            traced["run_metadata"] = kwargs["run_metadata"]
        try:
            return step_context.run_with_hooks(fetches, feed_dict=feed, **kwargs)
        except lost_errors as err:
            raise ClusterLost(lost_task_message(err)) from None

    return step_fn


_REMOTE_TARGET = re.compile(r"remote target (/job:[^\s:]+(?:/replica:\d+)?/task:\d+)")


def lost_task_message(error) -> str:
    """One line for a TensorFlow error that lost a remote task: its type, the task, the cause.

    "UnavailableError from /job:ps/replica:0/task:0: recvmsg:Connection reset by peer"
    """
    text = str(getattr(error, "message", None) or error)
    useful = tf_error_lines(error)
    while len(useful) > 1 and useful[0].endswith(":"):
        useful = useful[1:]  # "UNAVAILABLE: From /job:worker/...:" introduces the cause on the next line
    cause = useful[0]
    remote = _REMOTE_TARGET.search(text)
    return f"{type(error).__name__} from {remote[1] if remote else 'a remote task'}: {cause}"


def _traffic(run_metadata, task: TaskId, model) -> dict:
    from graphkit.graphs.remote_transfers import bytes_by_direction, remote_transfers

    transfers = remote_transfers(run_metadata.step_stats)
    directions = bytes_by_direction(transfers)
    mine = {key: value for key, value in directions.items() if f"/task:{task.index}" in _worker_side(key)}
    return {"bytes_per_step": sum(mine.values()), "bytes_minimum": minimum_bytes_per_step(model),
            "transfers": len(transfers),
            "bytes_by_direction": {f"{source} -> {destination}": value
                                   for (source, destination), value in directions.items()}}


def _worker_side(direction: tuple[str, str]) -> str:
    source, destination = direction
    return source if f"/job:{WORKER_JOB}/" in source else destination


def _batches(count: int, batch_size: int, seed: int):
    """Endless batches of example indices, a new shuffled order each epoch."""
    rng = np.random.default_rng(seed)
    batch_size = min(batch_size, count)
    while True:
        order = rng.permutation(count)
        for start in range(0, count - batch_size + 1, batch_size):
            yield np.sort(order[start:start + batch_size])


class _CheckpointLog:
    """A CheckpointSaverListener that records each checkpoint the chief writes."""

    def __init__(self, progress: ProgressLog, checkpoint_dir: str):
        self._progress = progress
        self._checkpoint_dir = checkpoint_dir

    def begin(self):
        pass

    def before_save(self, session, global_step_value):
        pass

    def after_save(self, session, global_step_value):
        from graphkit.constants import CHECKPOINT_PREFIX

        path = os.path.join(self._checkpoint_dir, f"{CHECKPOINT_PREFIX}-{global_step_value}")
        self._progress.event("checkpoint", f"saved {path}", global_step=int(global_step_value), path=path)

    def end(self, session, global_step_value):
        pass


class _ReplicaSessionCreator(v1.train.SessionCreator):
    """Creates a worker's session: the chief restores or initialises, the others wait for the model.

    Like MonitoredTrainingSession's creators, but every wait is bounded by
    `wait_s` and polled every half second instead of every 30 s.
    """

    def __init__(self, task, scaffold, target, config, checkpoint_dir, wait_s, wait_for_parameter_servers,
                 progress, global_step):
        self._task, self._scaffold, self._target, self._config = task, scaffold, target, config
        self._checkpoint_dir, self._wait_s = checkpoint_dir, wait_s
        self._wait_for_parameter_servers = wait_for_parameter_servers
        self._progress, self._global_step = progress, global_step

    def create_session(self):
        self._scaffold.finalize()
        self._wait_for_parameter_servers()
        manager = v1.train.SessionManager(
            local_init_op=self._scaffold.local_init_op, ready_op=self._scaffold.ready_op,
            ready_for_local_init_op=self._scaffold.ready_for_local_init_op,
            graph=v1.get_default_graph(), recovery_wait_secs=0.5)
        try:
            if self._task.is_chief:
                latest = tf.train.latest_checkpoint(self._checkpoint_dir)
                session = manager.prepare_session(
                    self._target, saver=self._scaffold.saver, checkpoint_dir=self._checkpoint_dir,
                    config=self._config, init_op=self._scaffold.init_op, max_wait_secs=self._wait_s)
                how = f"restored {latest}" if latest else "initialised the model"
            else:
                latest = None
                session = manager.wait_for_session(self._target, config=self._config,
                                                   max_wait_secs=self._wait_s)
                how = "joined"
        except (tf.errors.UnavailableError, tf.errors.AbortedError, tf.errors.DeadlineExceededError) as err:
            raise ClusterLost(f"creating the session: {lost_task_message(err)}") from None
        step = int(session.run(self._global_step))
        self._progress.event("session", f"{how}; global step {step}", global_step=step, restored=latest)
        return session


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs one worker task (its own server unless --attach); exit 0 done, 75 cluster lost, 2 bad input."""
    from graphkit.runtime.cluster_spec import parse_cluster

    parser = argparse.ArgumentParser(prog=f"python -m {__name__}", description=__doc__.splitlines()[0])
    parser.add_argument("--cluster-json", required=True, help="the cluster: {job: [addresses]}")
    parser.add_argument("--task", required=True, help="this worker's task, worker:INDEX")
    parser.add_argument("--output-dir", required=True, help="checkpoints, progress and logs")
    parser.add_argument("--attach", action="store_true",
                        help="use the task's running server (graphkit cluster start) instead of starting one")
    TrainingOptions.add_arguments(parser)
    args = parser.parse_args(argv)
    # v1 checkpoint helpers log a deprecation warning on every save
    tf.get_logger().setLevel("ERROR")
    try:
        options = TrainingOptions.from_args(args)
        try:
            value = json.loads(args.cluster_json)
        except json.JSONDecodeError as err:
            raise ClusterError(f"--cluster-json: not JSON ({err.msg})") from None
        cluster = parse_cluster(value, source="--cluster-json").with_task(TaskId.parse(args.task))
        cluster.check_task(cluster.task)
        target = f"grpc://{cluster.address(cluster.task)}" if args.attach else None
        train_worker(cluster, options, args.output_dir, target=target,
                     echo=lambda line: print(line, flush=True))
    except ClusterLost:
        sys.stdout.flush()
        os._exit(EXIT_CLUSTER_LOST)  # skip closing sessions whose remote half is gone
    except GraphkitError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
