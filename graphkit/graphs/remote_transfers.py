"""Tensors a distributed step received over the network, read from its step stats.

When a partition of a step needs a tensor from another task (a worker reading a
variable from its parameter server, a parameter server receiving a gradient), the
receiving task's gRPC layer records one entry named `RecvTensor` in the step
stats of its device, whose timeline label names the rendezvous edge and both
devices and whose output holds the received tensor (TensorFlow 2.21):

    [1.5MB] [2.5Gb/s] edge_17_dense/matmul/ReadVariableOp
        from /job:ps/replica:0/task:0/device:CPU:0 to /job:worker/replica:0/task:0/device:CPU:0

Unlike `_Send`/`_Recv` pairs inside one process, these are real copies, so their
sizes are the bytes the step moved between tasks. Only protos come in
(`StepStats`, `RunMetadata.step_stats` of a FULL_TRACE run); records go out.
"""

from __future__ import annotations

import dataclasses
import re

RECV_TENSOR = "RecvTensor"
_LABEL = re.compile(r"(?P<edge>\S+) from (?P<source>/job:\S+) to (?P<destination>/job:\S+)\s*$")


@dataclasses.dataclass(frozen=True)
class RemoteTransfer:
    """One tensor one task received from another during a step.

    Attributes:
      edge: the rendezvous key TensorFlow gave the edge ("edge_17_dense/matmul/ReadVariableOp").
      source: full name of the sending device.
      destination: full name of the receiving device.
      bytes: the received tensor's size in bytes.
    """

    edge: str
    source: str
    destination: str
    bytes: int


def remote_transfers(step_stats) -> tuple[RemoteTransfer, ...]:
    """Every `RecvTensor` of a step's stats, sorted by destination, source and edge.

    Args:
      step_stats: a `StepStats` proto (`RunMetadata.step_stats` of a FULL_TRACE run).
    Returns:
      one RemoteTransfer per tensor received from another task; empty for a
      step of one process.
    """
    found = []
    for dev_stats in step_stats.dev_stats:
        for stats in dev_stats.node_stats:
            if stats.node_name != RECV_TENSOR:
                continue
            match = _LABEL.search(stats.timeline_label)
            if match is None or not stats.output:
                continue
            description = stats.output[0].tensor_description.allocation_description
            size = description.requested_bytes or description.allocated_bytes
            found.append(RemoteTransfer(match["edge"], match["source"], match["destination"], int(size)))
    return tuple(sorted(found, key=lambda t: (t.destination, t.source, t.edge)))


def bytes_by_direction(transfers) -> dict[tuple[str, str], int]:
    """(source task, destination task) -> bytes, tasks named "/job:ps/replica:0/task:0"."""
    totals: dict[tuple[str, str], int] = {}
    for transfer in transfers:
        key = (_task_of(transfer.source), _task_of(transfer.destination))
        totals[key] = totals.get(key, 0) + transfer.bytes
    return dict(sorted(totals.items()))


def _task_of(device: str) -> str:
    return device.split("/device:", 1)[0]
