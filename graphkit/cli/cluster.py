"""`graphkit cluster start|status|stop`: TensorFlow servers of a cluster, one process per task.

    graphkit cluster start --ps 1 --workers 2            # a local cluster on free loopback ports
    graphkit cluster start --cluster cluster.json --task ps:0    # this host's task of a real cluster
    graphkit cluster status                              # is each task's process running, its port answering?
    graphkit cluster stop

The cluster comes from --cluster FILE, --ps-hosts/--worker-hosts, or TF_CONFIG,
else a local one of --ps and --workers tasks. The started processes are kept in
`OUTPUT/cluster_state.json`; `OUTPUT/cluster.json` is the cluster, in TF_CONFIG's
shape, for `examples/05_distributed_training.py --cluster` (with --attach).
"""

from __future__ import annotations

import json

ACTIONS = ("start", "status", "stop")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "cluster", help="start, check or stop the TensorFlow servers of a cluster (one process per task)",
        description="Starts a server process (tf.distribute.Server) per cluster task and waits until each "
                    "answers, reports whether each still runs and answers, or stops them.")
    parser.add_argument("action", choices=ACTIONS, help="what to do with the cluster's servers")
    parser.add_argument("--output", default="out/cluster",
                        help="directory of the cluster's state file and logs (default: out/cluster)")
    parser.add_argument("--ps", type=int, default=1, help="local cluster: parameter servers (default: 1)")
    parser.add_argument("--workers", type=int, default=2, help="local cluster: workers (default: 2)")
    parser.add_argument("--cluster", metavar="FILE",
                        help="cluster file (JSON: TF_CONFIG's object or its 'cluster'; "
                             "default: a local cluster)")
    parser.add_argument("--ps-hosts", metavar="H:P,...",
                        help="parameter server addresses, comma separated (default: local)")
    parser.add_argument("--worker-hosts", metavar="H:P,...",
                        help="worker addresses, comma separated (default: local)")
    parser.add_argument("--task", metavar="JOB:INDEX", help="start only this task (default: every task)")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds each task may take to answer (default: 60)")
    parser.add_argument("--json", action="store_true",
                        help="print the result as one JSON object (default: text)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from graphkit.errors import ClusterError
    from graphkit.runtime import cluster as servers
    from graphkit.runtime.cluster_spec import resolve_cluster

    if args.action == "status":
        return _print_status(servers.cluster_status(args.output), args.json)
    if args.action == "stop":
        statuses = servers.stop_cluster(args.output)
        stopped = [str(s.task) for s in statuses if s.running]
        if args.json:
            print(json.dumps({"stopped": stopped, "output": args.output}))
        else:
            print(f"stopped {len(stopped)} task process(es): {', '.join(stopped) or 'none was running'}")
        return 0
    if args.timeout <= 0:
        raise ClusterError(f"--timeout: expected seconds > 0, got {args.timeout}")
    _refuse_running_cluster(args.output)
    cluster = resolve_cluster(args.cluster, args.ps_hosts, args.worker_hosts, args.task)
    if cluster is None:
        cluster = servers.local_cluster(args.ps, args.workers)
    tasks = [cluster.task] if cluster.task is not None else None
    processes = servers.start_servers(cluster, args.output, tasks, timeout_s=args.timeout,
                                      die_with_parent=False)
    state = servers.write_state(args.output, cluster, processes)
    if args.json:
        print(json.dumps({"state": state, "cluster": cluster.as_dict(),
                          "tasks": {str(p.task): {"address": p.address, "pid": p.pid} for p in processes}}))
        return 0
    print(f"{'task':<10} {'address':<22} {'pid':>8}")
    for process in processes:
        print(f"{str(process.task):<10} {process.address:<22} {process.pid:>8}")
    print(f"every task answers; state in {state}; stop with: graphkit cluster stop --output {args.output}")
    return 0


def _refuse_running_cluster(output: str) -> None:
    from graphkit.errors import ClusterError
    from graphkit.runtime import cluster as servers

    try:
        statuses = servers.cluster_status(output)
    except ClusterError:
        return  # nothing started there, or a stale unreadable state that start replaces
    running = [str(s.task) for s in statuses if s.running]
    if running:
        raise ClusterError(f"{output}: a cluster is already running there ({', '.join(running)}); "
                           f"stop it first: graphkit cluster stop --output {output}")


def _print_status(statuses, as_json: bool) -> int:
    healthy = all(s.running and s.answering for s in statuses)
    if as_json:
        print(json.dumps({"healthy": healthy, "tasks": {
            str(s.task): {"address": s.address, "pid": s.pid, "running": s.running, "answering": s.answering}
            for s in statuses}}))
    else:
        print(f"{'task':<10} {'address':<22} {'pid':>8}  state")
        for s in statuses:
            state = "answering" if s.running and s.answering else "running, not answering" if s.running \
                else "not running"
            print(f"{str(s.task):<10} {s.address:<22} {s.pid:>8}  {state}")
    return 0 if healthy else 1
