"""Local clusters of TensorFlow servers: one process per task on loopback ports.

Each task of a cluster is its own process running `tf.distribute.Server`
(`graphkit.runtime.serve_task`), as it would on its own host. This module starts
them, waits until each answers on its port (bounded), and stops them, also when
something fails on the way:

    cluster = local_cluster(ps=1, workers=2)
    with running_servers(cluster, "out/cluster") as processes:
        ...                           # every task answers on 127.0.0.1

`graphkit cluster start|status|stop` keeps the processes of a started cluster in
a small JSON state file (`STATE_FILE`) so that a later command can find them.
Nothing here imports TensorFlow.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Iterator, Optional, Sequence

from graphkit.errors import ClusterError
from graphkit.files import atomic_write_text
from graphkit.runtime.cluster_spec import PS_JOB, WORKER_JOB, ClusterSpecification, TaskId, split_address

LOOPBACK = "127.0.0.1"
STATE_FILE = "cluster_state.json"   # the processes of a started cluster
CLUSTER_FILE = "cluster.json"       # the cluster itself, in TF_CONFIG's shape (a --cluster FILE)
SERVE_MODULE = "graphkit.runtime.serve_task"
READY_TIMEOUT_S = 60.0              # a task's process imports TensorFlow first: seconds on a loaded machine
STOP_GRACE_S = 3.0
_PR_SET_PDEATHSIG = 1


@dataclasses.dataclass
class TaskProcess:
    """One task's process and where its output goes.

    Attributes:
      task: the cluster task it runs.
      address: "host:port" it serves on.
      process: the running `subprocess.Popen`.
      log_path: file receiving its stdout and stderr.
      restarts: how many times a launcher started this task again.
    """

    task: TaskId
    address: str
    process: subprocess.Popen
    log_path: str
    restarts: int = 0

    @property
    def pid(self) -> int:
        return self.process.pid

    def exit_description(self) -> Optional[str]:
        """None while running, else "exited with code 3" or "was killed by SIGKILL"."""
        code = self.process.poll()
        return None if code is None else describe_exit(code)

    def last_line(self) -> str:
        """The last non-empty line the process wrote (its error, when it failed)."""
        return last_log_line(self.log_path)


def describe_exit(code: int) -> str:
    """A Popen return code in words: "exited with code 2", "was killed by SIGKILL"."""
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def last_log_line(path: str, limit: int = 8192) -> str:
    """The last non-empty line of the file at `path` ('' when there is none)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - limit))
            lines = handle.read().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    lines = [line.strip() for line in lines if line.strip()]
    return lines[-1] if lines else ""


def free_loopback_ports(count: int) -> list[int]:
    """`count` distinct TCP ports on 127.0.0.1 that nothing listens on right now."""
    sockets, ports = [], []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((LOOPBACK, 0))
            sockets.append(sock)
            ports.append(sock.getsockname()[1])
    finally:
        for sock in sockets:
            sock.close()
    return ports


def local_cluster(ps: int = 1, workers: int = 2) -> ClusterSpecification:
    """A cluster of `ps` parameter servers and `workers` workers on free loopback ports."""
    if ps < 1 or workers < 1:
        raise ClusterError(f"local cluster: expected at least 1 ps and 1 worker, "
                           f"got {ps} ps and {workers} workers")
    ports = free_loopback_ports(ps + workers)
    addresses = [f"{LOOPBACK}:{port}" for port in ports]
    return ClusterSpecification({PS_JOB: addresses[:ps], WORKER_JOB: addresses[ps:]}, source="local cluster")


def check_port_free(task: TaskId, address: str) -> None:
    """Raises ClusterError when something on this machine already listens on `address`'s port.

    Binding with SO_REUSEADDR, as gRPC does, lets a task restart on its port while
    the killed one's connections linger in TIME_WAIT, yet fails on a live listener.
    """
    host, port = split_address(address)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("" if host in ("localhost", "0.0.0.0") else host, port))
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise ClusterError(f"{task}: port {port} of {address} is already in use") from None
            if err.errno == errno.EADDRNOTAVAIL:
                raise ClusterError(f"{task}: {address} is not an address of this machine") from None
            raise ClusterError(f"{task}: cannot listen on {address} ({err.strerror})") from None


def answers(address: str, timeout_s: float = 0.5) -> bool:
    """Whether a TCP connection to `address` succeeds within `timeout_s`."""
    host, port = split_address(address)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def wait_until_answering(task: TaskId, address: str, timeout_s: float,
                         process: Optional[TaskProcess] = None) -> float:
    """Waits until `address` accepts connections; returns the seconds waited.

    Raises:
      ClusterError: the process exited first (with its last line), or `timeout_s` passed.
    """
    start = time.monotonic()
    while True:
        if process is not None and process.exit_description():
            detail = process.last_line()
            raise ClusterError(f"{task}: {process.exit_description()} before answering on {address}"
                               + (f": {detail}" if detail else ""))
        if answers(address):
            return time.monotonic() - start
        if time.monotonic() - start > timeout_s:
            raise ClusterError(f"{task}: no answer from {address} within {timeout_s:.0f} s")
        time.sleep(0.1)


def start_process(task: TaskId, address: str, argv: Sequence[str], log_path: str,
                  env: Optional[dict] = None, die_with_parent: bool = True) -> TaskProcess:
    """Starts `argv` as the process of `task`, its output appended to `log_path`.

    Args:
      die_with_parent: the kernel kills the process when its parent dies, so a
        launcher that is killed leaves no servers behind; `graphkit cluster start`
        turns this off to leave its servers running.
    """
    os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
    process_env = dict(os.environ if env is None else env)
    process_env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    process_env["PYTHONUNBUFFERED"] = "1"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(list(argv), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=process_env, start_new_session=True,
                                   preexec_fn=_die_with_parent if die_with_parent else None)
    return TaskProcess(task, address, process, log_path)


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def serve_argv(cluster: ClusterSpecification, task: TaskId) -> list[str]:
    """The command line of a process that serves `task` of `cluster` until stopped."""
    return [sys.executable, "-m", SERVE_MODULE, "--cluster-json", json.dumps(cluster.as_dict()),
            "--task", str(task)]


def start_servers(cluster: ClusterSpecification, log_dir: str, tasks: Optional[Sequence[TaskId]] = None,
                  timeout_s: float = READY_TIMEOUT_S, die_with_parent: bool = True) -> list[TaskProcess]:
    """Starts a server process for each of `tasks` (default: all) and waits until each answers.

    Every port is checked before any process starts; when one task fails to come
    up, the ones already started are stopped before the error is raised.

    Raises:
      ClusterError: a port in use, a task that exits or does not answer in `timeout_s`.
    """
    tasks = list(cluster.tasks() if tasks is None else tasks)
    for task in tasks:
        check_port_free(task, cluster.address(task))
    processes: list[TaskProcess] = []
    try:
        for task in tasks:
            processes.append(start_process(task, cluster.address(task), serve_argv(cluster, task),
                                           os.path.join(log_dir, f"{task.job}_{task.index}.log"),
                                           die_with_parent=die_with_parent))
        deadline = time.monotonic() + timeout_s
        for process in processes:
            left = max(0.0, deadline - time.monotonic())
            wait_until_answering(process.task, process.address, left, process)
    except BaseException:
        stop_processes(processes)
        raise
    return processes


def stop_processes(processes: Sequence[TaskProcess], grace_s: float = STOP_GRACE_S) -> None:
    """Asks each process to stop (SIGTERM), then kills what is left after `grace_s` (SIGKILL)."""
    for process in processes:
        if process.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.process.terminate()
    deadline = time.monotonic() + grace_s
    for process in processes:
        try:
            process.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                process.process.kill()
            process.process.wait()


@contextlib.contextmanager
def running_servers(cluster: ClusterSpecification, log_dir: str,
                    timeout_s: float = READY_TIMEOUT_S) -> Iterator[list[TaskProcess]]:
    """Serves every task of `cluster` in the block; stops them all when it ends, however it ends."""
    processes = start_servers(cluster, log_dir, timeout_s=timeout_s)
    try:
        yield processes
    finally:
        stop_processes(processes)


# The state file of `graphkit cluster start|status|stop`.

@dataclasses.dataclass(frozen=True)
class TaskStatus:
    """What `graphkit cluster status` says about one task."""

    task: TaskId
    address: str
    pid: int
    running: bool
    answering: bool


def write_state(output_dir: str, cluster: ClusterSpecification, processes: Sequence[TaskProcess]) -> str:
    """Writes the state file and the cluster file of a started cluster; returns the state file's path."""
    atomic_write_text(os.path.join(output_dir, CLUSTER_FILE), cluster.tf_config(None) + "\n")
    state = {"cluster": cluster.as_dict(),
             "processes": [{"task": str(p.task), "address": p.address, "pid": p.pid, "log": p.log_path}
                           for p in processes]}
    return atomic_write_text(os.path.join(output_dir, STATE_FILE), json.dumps(state, indent=2) + "\n")


def read_state(output_dir: str) -> tuple[ClusterSpecification, list[dict]]:
    """The cluster and process records a `graphkit cluster start` left in `output_dir`.

    Raises:
      ClusterError: no state file there, or one that does not parse.
    """
    from graphkit.runtime.cluster_spec import parse_cluster

    path = os.path.join(output_dir, STATE_FILE)
    try:
        with open(path, encoding="utf-8") as handle:
            state = json.load(handle)
        cluster = parse_cluster(state["cluster"], source=path)
        records = [dict(record, task=TaskId.parse(record["task"])) for record in state["processes"]]
    except FileNotFoundError:
        raise ClusterError(f"{output_dir}: no started cluster here (no {STATE_FILE})") from None
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ClusterError(f"{path}: unreadable cluster state ({type(err).__name__}: {err})") from None
    return cluster, records


def cluster_status(output_dir: str) -> list[TaskStatus]:
    """For each task of the started cluster in `output_dir`: its process running? its port answering?"""
    _, records = read_state(output_dir)
    return [TaskStatus(record["task"], record["address"], record["pid"], _is_our_server(record["pid"]),
                       answers(record["address"])) for record in records]


def stop_cluster(output_dir: str, grace_s: float = STOP_GRACE_S) -> list[TaskStatus]:
    """Stops the processes of the started cluster in `output_dir` and removes its state file.

    Only processes that still run `graphkit.runtime.serve_task` are signalled, so a
    recycled process id is left alone. Returns the status from before stopping.
    """
    statuses = cluster_status(output_dir)
    running = [status.pid for status in statuses if status.running]
    for pid in running:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(_is_our_server(pid) for pid in running):
        time.sleep(0.1)
    for pid in running:
        if _is_our_server(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(output_dir, STATE_FILE))
    return statuses


def _is_our_server(pid: int) -> bool:
    """Whether process `pid` is alive and runs graphkit's serve_task (not a recycled id)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            command = handle.read().split(b"\0")
        with open(f"/proc/{pid}/stat", "rb") as handle:
            state = handle.read().rsplit(b")", 1)[-1].split()[0]
    except OSError:
        return False
    return state != b"Z" and SERVE_MODULE.encode() in command
