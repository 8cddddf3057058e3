"""Between-graph replicated training on a local 1-ps/2-worker cluster, and its recovery.

Real processes on 127.0.0.1: a parameter server and two workers, each its own
Python process running TensorFlow's gRPC server. The launcher (`LocalJob`) is
the cluster manager; tests kill tasks with SIGKILL and check what the issue
asks: training goes on, killed tasks rejoin, the chief resumes from its last
checkpoint, a lost parameter server restarts the cluster, no checkpoint is lost
or corrupt, and the global step never goes back past the last checkpoint.
Every job is stopped when its test ends, also on failure, and runs under a time limit.
"""

import json
import os
import subprocess
import sys
import time

import pytest
import tensorflow as tf
from conftest import load_script, time_limit, write_mnist_npz

from graphkit.runtime.cluster import answers, local_cluster
from graphkit.runtime.cluster_spec import TaskId
from graphkit.runtime.distributed import EXIT_CLUSTER_LOST, TrainingOptions
from graphkit.runtime.local_job import LocalJob, latest_checkpoint

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHIEF, WORKER, PS = TaskId("worker", 0), TaskId("worker", 1), TaskId("ps", 0)


@pytest.fixture(scope="module")
def mnist_npz(tmp_path_factory):
    return write_mnist_npz(tmp_path_factory.mktemp("data") / "mnist.npz", train_count=1200, test_count=300)


def drive(job, condition, what, timeout_s=240.0):
    """Lets the launcher handle its processes until `condition()` holds."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert job.poll(), f"the job ended while waiting for {what}"
        assert time.monotonic() < deadline, f"no {what} within {timeout_s:.0f} s"
        time.sleep(0.2)


def records(job, task, event, since=0.0):
    return [r for r in job.progress(task) if r["event"] == event and r["time"] > since]


def global_steps_since(job, since):
    return [r["global_step"] for task in (CHIEF, WORKER) for r in job.progress(task)
            if r["time"] > since and r["event"] in ("session", "step")]


def test_training_survives_killing_a_worker_the_chief_and_the_parameter_server(tmp_path, mnist_npz):
    options = TrainingOptions(last_step=10**6, batch_size=32, checkpoint_every=40, log_every=5,
                              dataset="mnist", data_path=mnist_npz, min_step_s=0.02, wait_s=120.0)
    lines = []
    job = LocalJob(local_cluster(ps=1, workers=2), str(tmp_path), options, log=lines.append)
    floors = []  # (time of a kill, step of the last checkpoint then): no step after may fall below
    with time_limit(600, "kill worker, chief, ps"), job:  # entering starts the job; leaving stops it
        drive(job, lambda: (latest_checkpoint(job.checkpoint_dir)[1] or 0) >= 40
              and records(job, WORKER, "step"), "first checkpoint with both workers training")

        # 1. A non-chief worker dies: the chief trains on, the worker rejoins without restoring anything.
        killed_at, step_at_kill = time.time(), job.global_step()
        floors.append((killed_at, latest_checkpoint(job.checkpoint_dir)[1]))
        job.kill(WORKER)
        drive(job, lambda: records(job, WORKER, "session", killed_at), "worker:1 rejoining")
        rejoined = records(job, WORKER, "session", killed_at)[0]
        assert rejoined["restored"] is None
        chief_meanwhile = [r["global_step"] for r in records(job, CHIEF, "step", killed_at)
                           if r["time"] < rejoined["time"]]
        assert chief_meanwhile and max(chief_meanwhile) > step_at_kill
        assert lines[-1].startswith("worker:1 was killed by SIGKILL at global step ")
        assert lines[-1].endswith("worker:0 trains on; restarted it, it rejoins")

        # 2. The chief dies: worker:1 trains on; the restarted chief restores the last checkpoint.
        killed_at, step_at_kill = time.time(), job.global_step()
        job.kill(CHIEF)
        drive(job, lambda: any(e.kind == "killed" and e.task == "worker:0" for e in job.events),
              "chief restart")
        last_path, last_step = latest_checkpoint(job.checkpoint_dir)  # the chief is dead: nothing saves now
        floors.append((killed_at, last_step))
        drive(job, lambda: records(job, CHIEF, "session", killed_at), "chief resuming")
        resumed = records(job, CHIEF, "session", killed_at)[0]
        assert resumed["restored"] == last_path and resumed["global_step"] >= last_step
        worker_meanwhile = [r["global_step"] for r in records(job, WORKER, "step", killed_at)
                            if r["time"] < resumed["time"]]
        assert worker_meanwhile and max(worker_meanwhile) > step_at_kill
        assert lines[-1].startswith("worker:0 (chief) was killed by SIGKILL at global step ")
        assert lines[-1].endswith("worker:1 trains on; restarted it, it resumes from "
                                  + os.path.basename(last_path))
        drive(job, lambda: records(job, CHIEF, "checkpoint", resumed["time"]), "a checkpoint after resuming")

        # 3. The parameter server dies: both workers see UnavailableError and exit; the launcher
        #    restarts the cluster and the chief restores the last checkpoint into the new server.
        killed_at = time.time()
        job.kill(PS)
        drive(job, lambda: any(e.kind == "lost" for e in job.events), "cluster restart")
        last_path, last_step = latest_checkpoint(job.checkpoint_dir)
        floors.append((killed_at, last_step))
        for task in (CHIEF, WORKER):
            (lost,) = records(job, task, "lost", killed_at)
            assert lost["error"].startswith("UnavailableError from /job:ps/replica:0/task:0: "), lost["error"]
        assert lines[-1].startswith("ps:0 was killed by SIGKILL at global step ")
        assert lines[-1].endswith(f"worker:0 and worker:1 saw UnavailableError; restarted the cluster, "
                                  f"training resumes from {os.path.basename(last_path)}")
        drive(job, lambda: all(records(job, task, "session", killed_at) for task in (CHIEF, WORKER)),
              "both workers back")
        resumed = records(job, CHIEF, "session", killed_at)[0]
        assert resumed["restored"] == last_path and resumed["global_step"] >= last_step
        drive(job, lambda: (job.global_step() or 0) >= last_step + 20, "training after the restart")
    processes = list(job.processes.values())
    assert all(p.process.poll() is not None for p in processes)
    assert not any(answers(p.address) for p in processes)

    # One launcher line per incident, in order.
    assert [(e.kind, e.task) for e in job.events] == [("killed", "worker:1"), ("killed", "worker:0"),
                                                      ("lost", "ps:0")]
    assert all("\n" not in line for line in lines)
    # The global step never went back past the checkpoint that was the last one at a kill.
    for since, floor in floors:
        assert min(global_steps_since(job, since)) >= floor
    # Every checkpoint still listed is complete and readable. It is named by the global step the
    # chief saw before saving; the other worker's updates while the variables were written may
    # have moved the step it holds past that, never below.
    state = tf.train.get_checkpoint_state(job.checkpoint_dir)
    paths = list(state.all_model_checkpoint_paths)
    assert paths[-1] == state.model_checkpoint_path and len(paths) >= 2
    steps = []
    for path in paths:
        reader = tf.train.load_checkpoint(path)
        steps.append(int(reader.get_tensor("global_step")))
        assert steps[-1] >= int(path.rsplit("-", 1)[1])
        assert reader.get_variable_to_shape_map()["dense/kernel"] == [784, 512]
        assert reader.get_variable_to_shape_map()["dense/kernel/Adam"] == [784, 512]
    assert steps == sorted(steps)


def test_example_trains_to_the_last_step_and_checkpoints(tmp_path, mnist_npz):
    with time_limit(300, "example 05"):
        completed = subprocess.run(
            [sys.executable, os.path.join(REPO, "examples", "05_distributed_training.py"), "--output",
             str(tmp_path), "--dataset", "mnist", "--data-path", mnist_npz, "--last-step", "60",
             "--batch-size", "32", "--checkpoint-every", "25", "--log-every", "10", "--json"],
            capture_output=True, text=True, timeout=280, cwd=REPO)
    assert completed.returncode == 0, completed.stderr[-2000:]
    figures = json.loads(completed.stdout.strip().splitlines()[-1])
    assert sorted(figures["done"]) == ["worker:0", "worker:1"]
    assert sorted(figures["events"]) == [f"{task} finished at global step {record['global_step']}"
                                         for task, record in sorted(figures["done"].items())]
    assert all(record["global_step"] >= 60 for record in figures["done"].values())
    assert sum(record["local_steps"] for record in figures["done"].values()) >= 60
    assert figures["accuracy"] > 0.5  # 10 classes: chance is 0.1
    # the chief's last save is the final step, and it restores
    reader = tf.train.load_checkpoint(figures["checkpoint"])
    assert int(reader.get_tensor("global_step")) == figures["checkpoint_step"] >= 60


def test_a_worker_whose_parameter_server_never_answers_fails_in_one_line(tmp_path):
    from graphkit.runtime.cluster import free_loopback_ports

    ps_port, worker_port = free_loopback_ports(2)
    cluster = {"ps": [f"127.0.0.1:{ps_port}"], "worker": [f"127.0.0.1:{worker_port}"]}
    start = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-m", "graphkit.runtime.distributed", "--cluster-json", json.dumps(cluster),
         "--task", "worker:0", "--output-dir", str(tmp_path), "--dataset", "synthetic", "--wait-s", "2"],
        capture_output=True, text=True, timeout=180, cwd=REPO)
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines()[-1] == \
        f"error: ps:0: no answer from 127.0.0.1:{ps_port} within 2 s"
    assert completed.returncode != EXIT_CLUSTER_LOST and time.monotonic() - start < 180


def test_scaling_benchmark_counts_examples_over_the_window_all_workers_share():
    benchmark = load_script("benchmarks/distributed_scaling.py")
    # worker 0 steps every 0.1 s from t=0, worker 1 every 0.2 s from t=1; they overlap on [1, 3]
    logs = {"worker:0": [(0.1 * i, 10 + i) for i in range(31)],
            "worker:1": [(1.0 + 0.2 * i, 10 + i) for i in range(11)]}
    rate, window = benchmark.windowed_rate(logs, batch_size=100)
    assert window == pytest.approx(2.0)
    assert rate == pytest.approx((20 + 10) * 100 / 2.0)  # 20 steps of worker 0 and 10 of worker 1 in 2 s
    with pytest.raises(RuntimeError, match="did not overlap"):
        benchmark.windowed_rate({"a": [(0.0, 1), (1.0, 2)], "b": [(2.0, 1), (3.0, 2)]}, batch_size=1)
