"""Session configurations: the one place graphkit builds a `ConfigProto`.

TensorFlow sizes its CPU thread pools once per process, at the first session
(or Grappler cluster) it creates; later sessions of the process reuse them
whatever their config says. Pass these to a process's first session.
"""

from __future__ import annotations

import tensorflow as tf

v1 = tf.compat.v1


def session_config(intra_op: int = 0, inter_op: int = 0, cpu_devices: int = 0,
                   soft_placement: bool = False, log_device_placement: bool = False) -> v1.ConfigProto:
    """A ConfigProto with the given thread pools and logical CPU devices.

    Args:
      intra_op: threads inside one op (a matmul); 0 lets TensorFlow pick (one per core).
      inter_op: ops run at once; 0 lets TensorFlow pick (one per core).
      cpu_devices: logical CPU devices of the process (`/device:CPU:0` ... `N-1`); 0 keeps one.
      soft_placement: place an op elsewhere when its requested device cannot run it.
      log_device_placement: TensorFlow logs each op's device when the graph is placed.
    """
    config = v1.ConfigProto(intra_op_parallelism_threads=intra_op, inter_op_parallelism_threads=inter_op,
                            allow_soft_placement=soft_placement, log_device_placement=log_device_placement)
    if cpu_devices:
        config.device_count["CPU"] = cpu_devices
    return config


def towers_config(towers: int) -> v1.ConfigProto:
    """The session threads that let `towers` towers run one per core.

    One tower gets TensorFlow's default threads (one per core in each pool);
    more get one intra-op thread and one inter-op thread per tower.
    """
    if towers == 1:
        return session_config()
    return session_config(intra_op=1, inter_op=towers)


def cluster_config(device_filters, operation_timeout_s: float, intra_op: int = 0,
                   inter_op: int = 0) -> v1.ConfigProto:
    """A session config for one task of a cluster.

    Args:
      device_filters: device prefixes the session may use ("/job:ps",
        "/job:worker/task:1"); the session waits only for those tasks, so a
        worker starts, and keeps training, without the other workers.
      operation_timeout_s: a step that waits longer on a remote task fails with
        DeadlineExceededError instead of hanging.
      intra_op, inter_op: as in `session_config`.
    """
    config = session_config(intra_op=intra_op, inter_op=inter_op)
    config.device_filters.extend(device_filters)
    config.operation_timeout_in_ms = max(1, int(operation_timeout_s * 1000))
    return config
