"""A distributed training job on a local cluster, with the launcher as its cluster manager.

The launcher starts each parameter server (`graphkit.runtime.serve_task`) and
each worker (`graphkit.runtime.distributed`) as its own process on loopback
ports, then watches them the way Kubernetes would watch the pods of a real
cluster, writing one line per incident:

- a non-chief worker dies (say `kill -9`): the others train on; the launcher
  restarts it and it rejoins the running model.
- the chief dies: the others train on; the launcher restarts it, and its new
  session restores the chief's last checkpoint.
- a parameter server dies: the workers' steps fail with `UnavailableError` and
  the workers exit; the launcher restarts the whole cluster, and the chief
  restores the last checkpoint into the new parameter servers.

    with LocalJob(local_cluster(ps=1, workers=2), "out/distributed", TrainingOptions(last_step=500)) as job:
        result = job.run(timeout_s=600)

The launcher runs no TensorFlow itself: it reads progress and checkpoints from files.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import sys
import time
from typing import Callable, Optional

from graphkit.errors import ClusterError
from graphkit.runtime import cluster as cluster_processes
from graphkit.runtime.cluster_spec import PS_JOB, WORKER_JOB, ClusterSpecification, TaskId
from graphkit.runtime.distributed import (
    CHECKPOINT_DIR,
    EXIT_CLUSTER_LOST,
    LOG_DIR,
    TrainingOptions,
    read_progress,
)

EXIT_BAD_INPUT = 2
DISTRIBUTED_MODULE = "graphkit.runtime.distributed"
WORKERS_EXIT_GRACE_S = 10.0  # after a parameter server dies, how long workers get to see it and exit
_CHECKPOINT_LINE = re.compile(r'^model_checkpoint_path:\s*"(?P<path>[^"]+)"', re.MULTILINE)


@dataclasses.dataclass(frozen=True)
class JobEvent:
    """One incident the launcher handled, and the line it logged."""

    time: float
    task: str
    kind: str        # "killed" (a task died), "restarted", "lost" (cluster restart), "done", "failed"
    line: str
    global_step: Optional[int] = None
    checkpoint_step: Optional[int] = None


@dataclasses.dataclass(frozen=True)
class JobResult:
    """What a finished job left: per-worker "done" records, the incidents, the last checkpoint."""

    done: dict
    events: tuple
    checkpoint: Optional[str]
    checkpoint_step: Optional[int]
    seconds: float


def latest_checkpoint(checkpoint_dir: str) -> tuple[Optional[str], Optional[int]]:
    """(path, global step) of the latest checkpoint named by `checkpoint_dir/checkpoint`, or (None, None)."""
    try:
        with open(os.path.join(checkpoint_dir, "checkpoint"), encoding="utf-8") as handle:
            match = _CHECKPOINT_LINE.search(handle.read())
    except OSError:
        return None, None
    if match is None:
        return None, None
    path = match["path"]
    if not os.path.isabs(path):
        path = os.path.join(checkpoint_dir, path)
    step = path.rsplit("-", 1)[-1]
    return path, int(step) if step.isdigit() else None


class LocalJob:
    """Runs and supervises one training job on a cluster of local processes.

    Args:
      cluster: a cluster of loopback addresses with jobs "ps" and "worker".
      output_dir: receives checkpoints/, progress/ and logs/.
      options: how each worker trains.
      max_restarts: restarts allowed over the whole job before it gives up.
      log: where the launcher's one-line reports go.
      ready_timeout_s: how long a parameter server may take to answer.
    """

    def __init__(self, cluster: ClusterSpecification, output_dir: str, options: TrainingOptions,
                 max_restarts: int = 10, log: Callable[[str], None] = print,
                 ready_timeout_s: float = cluster_processes.READY_TIMEOUT_S):
        cluster.check_training_jobs()
        self.cluster = cluster
        self.output_dir = output_dir
        self.options = options
        self.max_restarts = max_restarts
        self.ready_timeout_s = ready_timeout_s
        self.events: list[JobEvent] = []
        self.processes: dict[TaskId, cluster_processes.TaskProcess] = {}
        self._log = log
        self._restarts = 0
        self._finished: dict[TaskId, dict] = {}
        self._started = None

    # Starting and stopping.

    def start(self) -> "LocalJob":
        """Starts the parameter servers (waiting until they answer), then the workers."""
        self._started = time.monotonic()
        self._start_all()
        return self

    def stop(self) -> None:
        """Stops every process of the job that still runs."""
        cluster_processes.stop_processes(list(self.processes.values()))

    def __enter__(self) -> "LocalJob":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _start_all(self) -> None:
        ps_tasks = [task for task in self.cluster.tasks() if task.job == PS_JOB]
        servers = cluster_processes.start_servers(self.cluster, self._log_dir(), ps_tasks,
                                                  timeout_s=self.ready_timeout_s)
        self.processes.update({process.task: process for process in servers})
        for task in self.cluster.tasks():
            if task.job == WORKER_JOB and task not in self._finished:
                self._start_worker(task)

    def _start_worker(self, task: TaskId) -> None:
        cluster_processes.check_port_free(task, self.cluster.address(task))
        argv = [sys.executable, "-m", DISTRIBUTED_MODULE, "--cluster-json",
                json.dumps(self.cluster.as_dict()), "--task", str(task), "--output-dir", self.output_dir,
                *self.options.argv()]
        previous = self.processes.get(task)
        log_path = os.path.join(self._log_dir(), f"{task.job}_{task.index}.log")
        process = cluster_processes.start_process(task, self.cluster.address(task), argv, log_path)
        process.restarts = previous.restarts + 1 if previous else 0
        self.processes[task] = process

    def _log_dir(self) -> str:
        return os.path.join(self.output_dir, LOG_DIR)

    # Watching.

    @property
    def checkpoint_dir(self) -> str:
        return os.path.join(self.output_dir, CHECKPOINT_DIR)

    def global_step(self) -> Optional[int]:
        """The highest global step any worker's progress file reports from its current session."""
        steps = [record["global_step"] for task in self._workers() for record in self.progress(task)
                 if "global_step" in record]
        return max(steps) if steps else None

    def progress(self, task: TaskId) -> list[dict]:
        """The progress records `task` wrote, through all its restarts."""
        return read_progress(self.output_dir, task)

    def kill(self, task: TaskId, sig: int = signal.SIGKILL) -> int:
        """Sends `sig` to `task`'s process (as an operator or a failing machine would); returns its pid."""
        process = self.processes[task]
        os.kill(process.pid, sig)
        return process.pid

    def done(self) -> bool:
        return all(task in self._finished for task in self._workers())

    def poll(self) -> bool:
        """Handles every process that exited since the last call; returns True while the job runs.

        Raises:
          ClusterError: a task failed on bad input, or the job ran out of restarts.
        """
        for task in self._workers():
            process = self.processes[task]
            code = process.process.poll()
            if code is None or task in self._finished:
                continue
            if code == 0:
                self._finished[task] = self._record(process, "done") or {}
                step = self._finished[task].get("global_step")
                self._event(task, "done", f"{task} finished at global step {step}", step)
            elif code == EXIT_BAD_INPUT:
                self._fail(f"{task} {process.exit_description()}: {process.last_line()}")
            elif code == EXIT_CLUSTER_LOST and not self._ps_alive():
                continue  # the parameter server's own exit is handled below
            else:
                self._restart_worker(task, process)
        if self.done():
            self.stop()
            return False
        ps_lost = [p for p in self.processes.values() if p.task.job == PS_JOB and p.exit_description()]
        if ps_lost:
            self._restart_cluster(ps_lost[0])
        return True

    def run(self, timeout_s: float, poll_s: float = 0.2) -> JobResult:
        """Polls until every worker is done; returns the result.

        Raises:
          ClusterError: the job failed, or did not finish within `timeout_s`.
        """
        deadline = time.monotonic() + timeout_s
        while self.poll():
            if time.monotonic() > deadline:
                self.stop()
                raise ClusterError(f"training job: not finished within {timeout_s:.0f} s "
                                   f"(global step {self.global_step()} of {self.options.last_step})")
            time.sleep(poll_s)
        return self.result()

    def result(self) -> JobResult:
        path, step = latest_checkpoint(self.checkpoint_dir)
        return JobResult({str(task): record for task, record in self._finished.items()}, tuple(self.events),
                         path, step, time.monotonic() - (self._started or time.monotonic()))

    # Recovery.

    def _restart_worker(self, task: TaskId, process) -> None:
        self._count_restart(f"{task} {process.exit_description()}")
        step = self.global_step()
        path, checkpoint_step = latest_checkpoint(self.checkpoint_dir)
        others = ", ".join(str(t) for t in self._workers()
                           if t != task and t not in self._finished) or "no one"
        if task.is_chief:
            resume = f"it resumes from {os.path.basename(path)}" if path else "it initialises the model again"
            line = (f"{task} (chief) {process.exit_description()} at global step {step}; {others} trains on; "
                    f"restarted it, {resume}")
        else:
            line = (f"{task} {process.exit_description()} at global step {step}; {others} trains on; "
                    "restarted it, it rejoins")
        self._start_worker(task)
        self._event(task, "killed", line, step, checkpoint_step)

    def _restart_cluster(self, lost) -> None:
        self._count_restart(f"{lost.task} {lost.exit_description()}")
        step = self.global_step()
        workers = [self.processes[t] for t in self._workers() if t not in self._finished]
        deadline = time.monotonic() + WORKERS_EXIT_GRACE_S
        while time.monotonic() < deadline and any(p.process.poll() is None for p in workers):
            time.sleep(0.1)
        saw = [str(p.task) for p in workers
               if p.process.poll() == EXIT_CLUSTER_LOST
               and "UnavailableError" in (self._record(p, "lost") or {}).get("error", "")]
        self.stop()
        path, checkpoint_step = latest_checkpoint(self.checkpoint_dir)
        resume = f"resumes from {os.path.basename(path)}" if path else "starts again from initial values"
        seen = f"{' and '.join(saw)} saw UnavailableError" if saw else "stopped the workers"
        line = (f"{lost.task} {lost.exit_description()} at global step {step}; {seen}; "
                f"restarted the cluster, training {resume}")
        self._start_all()
        self._event(lost.task, "lost", line, step, checkpoint_step)

    def _record(self, process, event: str) -> Optional[dict]:
        """The last `event` record written by this very process (not an earlier run of its task)."""
        records = [r for r in self.progress(process.task)
                   if r.get("event") == event and r["pid"] == process.pid]
        return records[-1] if records else None

    def _count_restart(self, what: str) -> None:
        self._restarts += 1
        if self._restarts > self.max_restarts:
            self._fail(f"{what}; giving up after {self.max_restarts} restarts")

    def _fail(self, line: str) -> None:
        self._event("job", "failed", line)
        self.stop()
        raise ClusterError(line)

    def _event(self, task, kind: str, line: str, global_step=None, checkpoint_step=None) -> None:
        self.events.append(JobEvent(time.time(), str(task), kind, line, global_step, checkpoint_step))
        self._log(line)

    def _ps_alive(self) -> bool:
        return all(p.process.poll() is None for p in self.processes.values() if p.task.job == PS_JOB)

    def _workers(self) -> list[TaskId]:
        return [task for task in self.cluster.tasks() if task.job == WORKER_JOB]
