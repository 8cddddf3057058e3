"""Which cluster a process belongs to: its jobs, their task addresses, and this process's task.

A cluster comes from flags, a JSON file, or the `TF_CONFIG` environment variable
that TensorFlow's own tools read, so the command that trains on a local cluster
trains on real hosts when each host gets its own task:

    TF_CONFIG='{"cluster": {"ps": ["10.0.0.1:2222"],
                            "worker": ["10.0.0.2:2222", "10.0.0.3:2222"]},
                "task": {"type": "worker", "index": 1}}'

A cluster file holds the same object, or just the "cluster" part. Parsing needs
no TensorFlow; `ClusterSpecification.as_dict()` is what `tf.train.ClusterSpec` takes.
"""

from __future__ import annotations

import dataclasses
import json
import os
from types import MappingProxyType
from typing import Mapping, Optional

from graphkit.errors import ClusterError

TF_CONFIG_ENV = "TF_CONFIG"
PS_JOB = "ps"
WORKER_JOB = "worker"
TRAINING_JOBS = (PS_JOB, WORKER_JOB)  # between-graph replication: parameter servers and workers


@dataclasses.dataclass(frozen=True, order=True)
class TaskId:
    """One task of a cluster: a job name and an index into its addresses."""

    job: str
    index: int

    def __str__(self) -> str:
        return f"{self.job}:{self.index}"

    @property
    def device(self) -> str:
        """The task's device prefix, as TensorFlow names it: `/job:worker/task:1`."""
        return f"/job:{self.job}/task:{self.index}"

    @property
    def is_chief(self) -> bool:
        """Worker 0 initialises, restores and checkpoints the model (between-graph replication)."""
        return self.job == WORKER_JOB and self.index == 0

    @classmethod
    def parse(cls, text: str) -> "TaskId":
        """`"worker:1"` -> TaskId("worker", 1).

        Raises:
          ClusterError: the text is not JOB:INDEX with a name and an int >= 0.
        """
        job, sep, index = str(text).partition(":")
        if not sep or not job or not index.isdigit():
            raise ClusterError(f"task {text!r}: expected JOB:INDEX such as worker:0 or ps:0")
        return cls(job, int(index))


@dataclasses.dataclass(frozen=True)
class ClusterSpecification:
    """Jobs and their task addresses, plus the task of this process when one is known.

    Attributes:
      jobs: job name -> addresses ("host:port") of its tasks, in task order.
      task: this process's task, or None (a launcher, `graphkit cluster status`).
      source: where the cluster was read from, for messages.
    """

    jobs: Mapping[str, tuple[str, ...]]
    task: Optional[TaskId] = None
    source: str = "cluster"

    def __post_init__(self):
        object.__setattr__(self, "jobs", MappingProxyType({job: tuple(addresses)
                                                           for job, addresses in self.jobs.items()}))
        if not self.jobs:
            raise ClusterError(f"{self.source}: the cluster has no jobs")
        for job, addresses in self.jobs.items():
            if not job or not isinstance(job, str):
                raise ClusterError(f"{self.source}: job names must be non-empty strings, got {job!r}")
            if not addresses:
                raise ClusterError(f"{self.source}: job {job!r} has no tasks")
            for index, address in enumerate(addresses):
                _check_address(address, f"{self.source}: {job}:{index}")
        seen = {}
        for task in self.tasks():
            address = self.address(task)
            if address in seen:
                raise ClusterError(f"{self.source}: {task} and {seen[address]} share the address {address}")
            seen[address] = task
        if self.task is not None:
            self.check_task(self.task)

    def tasks(self) -> tuple[TaskId, ...]:
        """Every task of the cluster, parameter servers first."""
        order = sorted(self.jobs, key=lambda job: (job != PS_JOB, job))
        return tuple(TaskId(job, index) for job in order for index in range(len(self.jobs[job])))

    def check_task(self, task: TaskId) -> None:
        """Raises ClusterError unless `task` names a job and index of this cluster."""
        if task.job not in self.jobs:
            raise ClusterError(f"{self.source}: unknown job {task.job!r} in task {task}; "
                               f"the cluster has {', '.join(sorted(self.jobs))}")
        if not 0 <= task.index < len(self.jobs[task.job]):
            raise ClusterError(f"{self.source}: task {task} does not exist; job {task.job!r} has "
                               f"tasks 0..{len(self.jobs[task.job]) - 1}")

    def address(self, task: TaskId) -> str:
        """The "host:port" of `task`."""
        self.check_task(task)
        return self.jobs[task.job][task.index]

    def count(self, job: str) -> int:
        """How many tasks `job` has (0 when the cluster lacks it)."""
        return len(self.jobs.get(job, ()))

    def with_task(self, task: Optional[TaskId]) -> "ClusterSpecification":
        """The same cluster seen from `task`."""
        return dataclasses.replace(self, task=task)

    def as_dict(self) -> dict[str, list[str]]:
        """{job: [addresses]}, what `tf.train.ClusterSpec` takes."""
        return {job: list(addresses) for job, addresses in self.jobs.items()}

    def tf_config(self, task: Optional[TaskId] = None) -> str:
        """The `TF_CONFIG` value that puts a process on `task` (default: this one's) of this cluster."""
        task = task or self.task
        config = {"cluster": self.as_dict()}
        if task is not None:
            self.check_task(task)
            config["task"] = {"type": task.job, "index": task.index}
        return json.dumps(config)

    def check_training_jobs(self) -> None:
        """Raises ClusterError unless the cluster has parameter servers and workers and nothing else."""
        missing = [job for job in TRAINING_JOBS if job not in self.jobs]
        extra = sorted(set(self.jobs) - set(TRAINING_JOBS))
        if missing or extra:
            problem = (f"lacks job {', '.join(map(repr, missing))}" if missing
                       else f"has job {', '.join(map(repr, extra))}, which between-graph training "
                            "does not use")
            raise ClusterError(f"{self.source}: the cluster {problem}; expected jobs 'ps' and 'worker'")


def parse_cluster(value, source: str = "cluster") -> ClusterSpecification:
    """A cluster from a TF_CONFIG-shaped object, or from a bare {job: [addresses]} mapping.

    Args:
      value: {"cluster": {job: [addresses]}, "task": {"type": job, "index": i}}
        (the task is optional), or {job: [addresses]}.
      source: where `value` came from, for messages.
    Raises:
      ClusterError: naming `source` and what is wrong.
    """
    if not isinstance(value, Mapping):
        raise ClusterError(f"{source}: expected a JSON object, got {type(value).__name__}")
    task = None
    if "cluster" in value:
        unknown = sorted(set(value) - {"cluster", "task", "environment", "rpc_layer"})
        if unknown:
            raise ClusterError(f"{source}: unknown key {unknown[0]!r}; expected 'cluster' and 'task'")
        jobs = value["cluster"]
        if value.get("task"):
            task = _parse_task_object(value["task"], source)
    else:
        jobs = value
    if not isinstance(jobs, Mapping):
        raise ClusterError(f"{source}: 'cluster' must map job names to address lists, "
                           f"got {type(jobs).__name__}")
    for job, addresses in jobs.items():
        if isinstance(addresses, str) or not isinstance(addresses, (list, tuple)):
            raise ClusterError(f"{source}: job {job!r} must list its task addresses, "
                               f"got {type(addresses).__name__}")
    return ClusterSpecification(jobs, task, source)


def load_cluster_file(path: str) -> ClusterSpecification:
    """Reads a cluster file (JSON, the TF_CONFIG object or its "cluster" part).

    Raises:
      ClusterError: the file is missing or unreadable, is not JSON, or is no cluster.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as err:
        raise ClusterError(f"{path}: cannot read the cluster file ({err.strerror or err})") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise ClusterError(f"{path}: not JSON ({err.msg} at line {err.lineno} column {err.colno})") from None
    return parse_cluster(value, source=path)


def cluster_from_tf_config(environ: Optional[Mapping[str, str]] = None) -> Optional[ClusterSpecification]:
    """The cluster in `TF_CONFIG`, or None when the variable is unset or empty.

    Raises:
      ClusterError: TF_CONFIG is set but does not parse or has no "cluster".
    """
    text = (os.environ if environ is None else environ).get(TF_CONFIG_ENV, "").strip()
    if not text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise ClusterError(f"{TF_CONFIG_ENV}: not JSON ({err.msg} at column {err.colno})") from None
    if not isinstance(value, Mapping) or "cluster" not in value:
        raise ClusterError(f"{TF_CONFIG_ENV}: expected an object with a 'cluster' key")
    return parse_cluster(value, source=TF_CONFIG_ENV)


def cluster_from_flags(ps: str, workers: str) -> ClusterSpecification:
    """A cluster from comma-separated address lists: `--ps h1:2222 --workers h2:2222,h3:2222`."""
    jobs = {PS_JOB: _split_addresses(ps), WORKER_JOB: _split_addresses(workers)}
    return ClusterSpecification(jobs, None, source="--ps/--workers")


def resolve_cluster(cluster_file: Optional[str] = None, ps: Optional[str] = None,
                    workers: Optional[str] = None, task: Optional[str] = None,
                    environ: Optional[Mapping[str, str]] = None) -> Optional[ClusterSpecification]:
    """The cluster a command was pointed at: a file, else flags, else TF_CONFIG, else None.

    Args:
      task: "JOB:INDEX" overriding the task of the file or TF_CONFIG.
    Raises:
      ClusterError: conflicting sources, or one that does not parse.
    """
    if cluster_file and (ps or workers):
        raise ClusterError("--cluster: give a cluster file or --ps/--workers, not both")
    if bool(ps) != bool(workers):
        raise ClusterError("--ps/--workers: give both address lists")
    if cluster_file:
        cluster = load_cluster_file(cluster_file)
    elif ps:
        cluster = cluster_from_flags(ps, workers)
    else:
        cluster = cluster_from_tf_config(environ)
    if cluster is None:
        if task:
            raise ClusterError(f"--task {task}: no cluster given "
                               "(--cluster FILE, --ps/--workers or TF_CONFIG)")
        return None
    if task:
        parsed = TaskId.parse(task)
        cluster.check_task(parsed)
        cluster = cluster.with_task(parsed)
    return cluster


def split_address(address: str) -> tuple[str, int]:
    """`"127.0.0.1:2222"` -> ("127.0.0.1", 2222); `"[::1]:2222"` -> ("::1", 2222)."""
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def _check_address(address, where: str) -> None:
    if not isinstance(address, str):
        raise ClusterError(f"{where}: expected an address \"host:port\", got {address!r}")
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ClusterError(f"{where}: expected an address \"host:port\" with a port 1-65535, got {address!r}")


def _parse_task_object(task, source: str) -> TaskId:
    if not isinstance(task, Mapping) or "type" not in task:
        raise ClusterError(f"{source}: 'task' must be an object with 'type' and 'index'")
    index = task.get("index", 0)
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise ClusterError(f"{source}: task index must be an int >= 0, got {index!r}")
    return TaskId(str(task["type"]), index)


def _split_addresses(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in str(text).split(",") if part.strip())
