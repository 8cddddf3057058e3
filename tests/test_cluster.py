"""Clusters: reading them from files, flags and TF_CONFIG; server processes started, checked, stopped.

Every server runs on 127.0.0.1 and every test that starts one stops it in a
`finally`, also when the test fails; each such test runs under a time limit.
"""

import json
import os
import socket
import subprocess
import sys
import time

import pytest
import tensorflow as tf
from conftest import time_limit
from tensorflow.core.framework import step_stats_pb2

from graphkit.cli.main import main as graphkit_main
from graphkit.errors import ClusterError
from graphkit.graphs.remote_transfers import bytes_by_direction, remote_transfers
from graphkit.runtime import cluster as servers
from graphkit.runtime.cluster_spec import (
    TaskId,
    cluster_from_flags,
    cluster_from_tf_config,
    load_cluster_file,
    parse_cluster,
    resolve_cluster,
)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TF_CONFIG = {"cluster": {"ps": ["10.0.0.1:2222"], "worker": ["10.0.0.2:2222", "10.0.0.3:2223"]},
             "task": {"type": "worker", "index": 1}}


def test_tf_config_gives_jobs_addresses_and_task():
    cluster = cluster_from_tf_config({"TF_CONFIG": json.dumps(TF_CONFIG)})
    assert cluster.as_dict() == TF_CONFIG["cluster"]
    assert cluster.task == TaskId("worker", 1) and not cluster.task.is_chief
    assert cluster.address(cluster.task) == "10.0.0.3:2223"
    assert [str(t) for t in cluster.tasks()] == ["ps:0", "worker:0", "worker:1"]
    assert json.loads(cluster.tf_config()) == TF_CONFIG
    # TensorFlow reads the same cluster the same way
    spec = tf.train.ClusterSpec(cluster.as_dict())
    assert spec.task_address("worker", 1) == "10.0.0.3:2223" and spec.num_tasks("ps") == 1


def test_cluster_file_in_either_shape_and_flags(tmp_path):
    whole = tmp_path / "tf_config.json"
    whole.write_text(json.dumps(TF_CONFIG))
    bare = tmp_path / "cluster.json"
    bare.write_text(json.dumps(TF_CONFIG["cluster"]))
    assert load_cluster_file(str(whole)).task == TaskId("worker", 1)
    assert load_cluster_file(str(bare)).task is None
    assert load_cluster_file(str(bare)).as_dict() == TF_CONFIG["cluster"]
    flags = cluster_from_flags("10.0.0.1:2222", "10.0.0.2:2222, 10.0.0.3:2223")
    assert flags.as_dict() == TF_CONFIG["cluster"]
    # a file wins over TF_CONFIG, and --task over the file's task
    other = {"TF_CONFIG": json.dumps({"cluster": {"a": ["h:1"]}})}
    chosen = resolve_cluster(str(whole), task="ps:0", environ=other)
    assert chosen.task == TaskId("ps", 0) and chosen.source == str(whole)
    assert resolve_cluster(environ={}) is None
    assert resolve_cluster(environ={"TF_CONFIG": json.dumps(TF_CONFIG)}).task == TaskId("worker", 1)


@pytest.mark.parametrize("text, expected", [
    ("{not json", "not JSON (Expecting property name enclosed in double quotes at line 1 column 2)"),
    ("[1, 2]", "expected a JSON object, got list"),
    ('{"cluster": {"ps": "h:1"}}', "job 'ps' must list its task addresses, got str"),
    ('{"ps": ["h:1"], "worker": []}', "job 'worker' has no tasks"),
    ('{"ps": ["h:99999"]}', 'ps:0: expected an address "host:port" with a port 1-65535, got \'h:99999\''),
    ('{"ps": ["h:1"], "worker": ["h:1"]}', "worker:0 and ps:0 share the address h:1"),
    ('{"cluster": {"ps": ["h:1"]}, "task": {"type": "chief", "index": 0}}',
     "unknown job 'chief' in task chief:0; the cluster has ps"),
    ('{"cluster": {"ps": ["h:1"]}, "task": {"type": "ps", "index": 3}}',
     "task ps:3 does not exist; job 'ps' has tasks 0..0"),
    ('{"cluster": {"ps": ["h:1"]}, "tasks": 1}', "unknown key 'tasks'; expected 'cluster' and 'task'"),
])
def test_bad_cluster_files_give_one_line_naming_the_file(tmp_path, text, expected):
    path = tmp_path / "cluster.json"
    path.write_text(text)
    with pytest.raises(ClusterError) as caught:
        load_cluster_file(str(path))
    assert str(caught.value) == f"{path}: {expected}"


def test_bad_tf_config_task_and_flags_give_one_line(tmp_path):
    cases = [
        (lambda: cluster_from_tf_config({"TF_CONFIG": "{oops"}), "TF_CONFIG: not JSON"),
        (lambda: cluster_from_tf_config({"TF_CONFIG": '{"ps": ["h:1"]}'}), "TF_CONFIG: expected an object"),
        (lambda: TaskId.parse("worker-1"), "task 'worker-1': expected JOB:INDEX"),
        (lambda: load_cluster_file(str(tmp_path / "missing.json")), "cannot read the cluster file"),
        (lambda: resolve_cluster(ps="h:1"), "--ps/--workers: give both address lists"),
        (lambda: resolve_cluster(task="worker:0", environ={}), "--task worker:0: no cluster given"),
        (lambda: parse_cluster({"ps": ["h:1"]}).check_training_jobs(), "the cluster lacks job 'worker'"),
        (lambda: parse_cluster({"ps": ["h:1"], "worker": ["h:2"], "chief": ["h:3"]}).check_training_jobs(),
         "has job 'chief', which between-graph training does not use"),
    ]
    for call, fragment in cases:
        with pytest.raises(ClusterError) as caught:
            call()
        assert fragment in str(caught.value) and "\n" not in str(caught.value)


def test_remote_transfers_from_hand_built_step_stats():
    step_stats = step_stats_pb2.StepStats()
    worker = step_stats.dev_stats.add(device="/job:worker/replica:0/task:1/device:CPU:0")
    ps = step_stats.dev_stats.add(device="/job:ps/replica:0/task:0/device:CPU:0")
    for dev, edge, source, destination, size in (
            (worker, "edge_17_dense/matmul/ReadVariableOp", ps.device, worker.device, 1605632),
            (worker, "edge_18_dense/bias_add/ReadVariableOp", ps.device, worker.device, 2048),
            (ps, "edge_93_gradients/dense/matmul_grad/MatMul_1", worker.device, ps.device, 1605632)):
        label = f"[1.5MB] [2.5Gb/s] {edge} from {source} to {destination}"  # TensorFlow 2.21's label
        node = dev.node_stats.add(node_name="RecvTensor", timeline_label=label)
        node.output.add(slot=0).tensor_description.allocation_description.requested_bytes = size
    worker.node_stats.add(node_name="dense/MatMul", timeline_label="dense/MatMul = MatMul(x, kernel)")
    ps.node_stats.add(node_name="Identity", timeline_label=f"edge_1_x from {worker.device} to {ps.device}")
    transfers = remote_transfers(step_stats)
    assert [(t.edge, t.bytes) for t in transfers] == [
        ("edge_93_gradients/dense/matmul_grad/MatMul_1", 1605632),
        ("edge_17_dense/matmul/ReadVariableOp", 1605632), ("edge_18_dense/bias_add/ReadVariableOp", 2048)]
    assert bytes_by_direction(transfers) == {
        ("/job:ps/replica:0/task:0", "/job:worker/replica:0/task:1"): 1607680,
        ("/job:worker/replica:0/task:1", "/job:ps/replica:0/task:0"): 1605632}


def test_port_in_use_is_one_line_within_seconds_and_starts_nothing(tmp_path):
    with socket.socket() as taken:
        taken.bind((servers.LOOPBACK, 0))
        taken.listen()
        port = taken.getsockname()[1]
        cluster = parse_cluster({"ps": [f"127.0.0.1:{port}"], "worker": ["127.0.0.1:1"]})
        start = time.monotonic()
        with pytest.raises(ClusterError) as caught:
            servers.start_servers(cluster, str(tmp_path))
        assert str(caught.value) == f"ps:0: port {port} of 127.0.0.1:{port} is already in use"
        assert time.monotonic() - start < 5
    assert not os.listdir(tmp_path)  # no process was started, so no log either


def test_unreachable_task_is_one_line_within_its_bound():
    (port,) = servers.free_loopback_ports(1)
    start = time.monotonic()
    with pytest.raises(ClusterError) as caught:
        servers.wait_until_answering(TaskId("ps", 0), f"127.0.0.1:{port}", timeout_s=1.0)
    assert str(caught.value) == f"ps:0: no answer from 127.0.0.1:{port} within 1 s"
    assert time.monotonic() - start < 3


def test_cluster_command_starts_reports_and_stops_servers(tmp_path, capsys):
    output = str(tmp_path / "cluster")
    try:
        with time_limit(180, "graphkit cluster start/status/stop"):
            assert graphkit_main(["cluster", "start", "--ps", "1", "--workers", "1", "--output", output,
                                  "--json"]) == 0
            started = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
            assert sorted(started["tasks"]) == ["ps:0", "worker:0"]
            pids = [task["pid"] for task in started["tasks"].values()]
            for task in started["tasks"].values():
                assert servers.answers(task["address"])
            # the cluster file it wrote is a --cluster FILE naming the same addresses
            cluster_file = os.path.join(output, servers.CLUSTER_FILE)
            assert load_cluster_file(cluster_file).as_dict() == started["cluster"]

            assert graphkit_main(["cluster", "status", "--output", output, "--json"]) == 0
            status = json.loads(capsys.readouterr().out.strip())
            assert status["healthy"]
            assert all(t["running"] and t["answering"] for t in status["tasks"].values())

            # the example trains through these servers, its cluster and task read from TF_CONFIG
            tf_config = {"cluster": started["cluster"], "task": {"type": "worker", "index": 0}}
            trained = subprocess.run(
                [sys.executable, os.path.join(REPO, "examples", "05_distributed_training.py"), "--attach",
                 "--output", str(tmp_path / "train"), "--dataset", "synthetic", "--last-step", "12",
                 "--checkpoint-every", "5", "--log-every", "4", "--json"],
                env={**os.environ, "TF_CONFIG": json.dumps(tf_config)}, capture_output=True, text=True,
                timeout=150, cwd=REPO)
            assert trained.returncode == 0, trained.stderr[-2000:]
            figures = json.loads(trained.stdout.strip().splitlines()[-1])
            assert figures["mode"] == "task" and figures["task"] == "worker:0"
            assert figures["global_step"] == figures["local_steps"] == 12
            checkpoints = str(tmp_path / "train" / "checkpoints")
            assert tf.train.latest_checkpoint(checkpoints).endswith("model.ckpt-12")

            # a second start there refuses in one line; so does a start on a taken port
            assert graphkit_main(["cluster", "start", "--output", output]) == 2
            assert "a cluster is already running there (ps:0, worker:0)" in capsys.readouterr().err
            taken = started["tasks"]["ps:0"]["address"]
            assert graphkit_main(["cluster", "start", "--ps-hosts", taken, "--worker-hosts", "127.0.0.1:1",
                                  "--output", str(tmp_path / "other")]) == 2
            err = capsys.readouterr().err
            port = taken.rsplit(":", 1)[1]
            assert err.strip() == f"graphkit cluster: error: ps:0: port {port} of {taken} is already in use"

            assert graphkit_main(["cluster", "stop", "--output", output]) == 0
            assert "stopped 2 task process(es): ps:0, worker:0" in capsys.readouterr().out
            for pid in pids:
                assert not servers._is_our_server(pid)
            assert graphkit_main(["cluster", "status", "--output", output]) == 2
            assert "no started cluster here" in capsys.readouterr().err
    finally:
        if os.path.exists(os.path.join(output, servers.STATE_FILE)):
            servers.stop_cluster(output)


def test_running_servers_stop_even_when_the_block_fails(tmp_path):
    (port,) = servers.free_loopback_ports(1)
    cluster = parse_cluster({"ps": [f"127.0.0.1:{port}"]})  # one task: one process to start
    with time_limit(120, "running_servers"):
        with pytest.raises(RuntimeError, match="the test body failed"):
            with servers.running_servers(cluster, str(tmp_path)) as processes:
                assert all(servers.answers(p.address) for p in processes)
                raise RuntimeError("the test body failed")
    assert all(p.process.poll() is not None for p in processes)
    assert not any(servers.answers(p.address) for p in processes)


def test_a_lost_task_error_becomes_one_line_naming_the_task_and_cause():
    from graphkit.runtime.distributed import lost_task_message

    # the message of a step whose parameter server was killed (TensorFlow 2.21, observed)
    message = "\n".join([
        "Graph execution error:", "", "=====================",
        "UNAVAILABLE: From /job:worker/replica:0/task:0:",
        "recvmsg:Connection reset by peer",
        "Additional GRPC error information from remote target /job:ps/replica:0/task:0 while calling "
        "/tensorflow.WorkerService/RecvTensor:",
        ":UNKNOWN:Error received from peer  {grpc_status:14}"])
    assert lost_task_message(tf.errors.UnavailableError(None, None, message)) == \
        "UnavailableError from /job:ps/replica:0/task:0: recvmsg:Connection reset by peer"
    timed_out = tf.errors.DeadlineExceededError(None, None, "Timed out waiting for notification")
    assert lost_task_message(timed_out) == \
        "DeadlineExceededError from a remote task: Timed out waiting for notification"
