"""The process of one cluster task that only serves: `tf.distribute.Server` until stopped.

    python -m graphkit.runtime.serve_task --cluster-json '{"ps": [...], "worker": [...]}' --task ps:0

A parameter server is such a process; so is each task of `graphkit cluster
start`. It prints one line once it serves, and exits with code 2 and one line
when its cluster or task is wrong or its port is taken.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Optional, Sequence

from graphkit.errors import ClusterError, GraphkitError, tf_error_line


def start_server(cluster, config=None):
    """Starts the gRPC server of `cluster.task` in this process; returns the `tf.distribute.Server`.

    Raises:
      ClusterError: the task's port is taken or TensorFlow cannot start the server.
    """
    from graphkit.quiet import import_tensorflow
    from graphkit.runtime.cluster import check_port_free

    task = cluster.task
    check_port_free(task, cluster.address(task))
    tf = import_tensorflow()
    try:
        return tf.distribute.Server(tf.train.ClusterSpec(cluster.as_dict()), job_name=task.job,
                                    task_index=task.index, protocol="grpc", config=config, start=True)
    except tf.errors.OpError as err:
        raise ClusterError(f"{task}: cannot start a server on {cluster.address(task)}: "
                           f"{tf_error_line(err)}") from None


def main(argv: Optional[Sequence[str]] = None) -> int:
    from graphkit.runtime.cluster_spec import TaskId, parse_cluster

    parser = argparse.ArgumentParser(prog=f"python -m {__name__}", description=__doc__.splitlines()[0])
    parser.add_argument("--cluster-json", required=True, help="the cluster: {job: [addresses]}")
    parser.add_argument("--task", required=True, help="this process's task, JOB:INDEX")
    args = parser.parse_args(argv)
    try:
        try:
            value = json.loads(args.cluster_json)
        except json.JSONDecodeError as err:
            raise ClusterError(f"--cluster-json: not JSON ({err.msg})") from None
        task = TaskId.parse(args.task)
        cluster = parse_cluster(value, source="--cluster-json").with_task(task)
        server = start_server(cluster)
    except GraphkitError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        return 2
    print(f"{task}: serving at {server.target}", flush=True)
    server.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
