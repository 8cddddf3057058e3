"""One traced step of a model placed over several logical CPU devices.

    step = open_placed_step("hello_mnist", devices=2, policy="round-robin", batch=256)
    run = run_placed_step(step)                     # one Session.run, partition graphs kept
    report = placement_report(run.graph_def, run.run_metadata)   # graphkit.graphs.placement

MODEL is the built-in `hello_mnist` (one training step: loss and train op on
random images and labels; built in `devices` towers for the towers policy) or a
path to a GraphDef (.pb/.pbtxt), checkpoint .meta or SavedModel directory
(fetches: --fetch, else the signature's outputs). Placeholders the fetches need
are fed random data of their static shape (unknown dimensions get `batch`).
Variables start from their initializers (`<variable>/Assign`): where an op runs
and how many bytes cross devices do not depend on the values.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Optional

import numpy as np
import tensorflow as tf

from graphkit.errors import AnalysisError, PlacementError, tf_error_line
from graphkit.graphs.load import load_graph
from graphkit.graphs.names import VARIABLE_OPS, variable_initializers
from graphkit.graphs.placement import parse_device
from graphkit.graphs.work_span import prune
from graphkit.runtime.configs import session_config
from graphkit.runtime.inputs import random_array, random_placeholder_feeds
from graphkit.runtime.placement import check_devices, place_graph_def, policy_for
from graphkit.runtime.tracing import run_traced

v1 = tf.compat.v1

BUILT_IN = "hello_mnist"
MAX_DEVICES = 64


@dataclasses.dataclass(frozen=True)
class PlacedStep:
    """A placed graph and what one step of it runs.

    Attributes:
      model: what was opened (BUILT_IN or the path).
      graph_def: the GraphDef with the policy's device requests.
      fetches: tensor or op names the step runs.
      feeds: tensor name -> random array.
      init_ops: op names run once before the step (variable initializers).
      devices: logical CPU devices of the session.
      policy: the policy's name ("" when the graph's own requests are kept).
    """

    model: str
    graph_def: object
    fetches: tuple
    feeds: dict
    init_ops: tuple
    devices: int
    policy: str


@dataclasses.dataclass(frozen=True)
class PlacedRun:
    """One traced step: the GraphDef that ran, its RunMetadata and the session's devices."""

    graph_def: object
    run_metadata: object
    available: tuple


def open_placed_step(model: str, devices: int, policy: str = "", rules: Sequence[tuple[str, str]] = (),
                     batch: int = 32, fetch: Sequence[str] = (), seed: int = 0,
                     tags: Optional[str] = None, signature: Optional[str] = None) -> PlacedStep:
    """Builds or loads `model` and applies a placement policy to it.

    Args:
      model: BUILT_IN, or a GraphDef/.meta/SavedModel path.
      devices: logical CPU devices (1 ... MAX_DEVICES).
      policy: one of graphkit.runtime.placement.POLICIES, or "" to keep the graph's own requests.
      rules: (pattern, device) rules of the "scope" policy.
      batch: size of unknown input dimensions.
      fetch: what to run (a path's default: its signature outputs).
      seed: seed of the random inputs and of the built-in model.
      tags, signature: SavedModel tag set and signature key.
    Returns:
      a PlacedStep.
    Raises:
      PlacementError: bad device count or batch, unknown policy, a model without
        what the policy needs, nothing to fetch, variables without initializers.
      GraphFileError, SavedModelError: the path cannot be read.
    """
    if not isinstance(devices, int) or not 1 <= devices <= MAX_DEVICES:
        raise PlacementError(f"devices: expected an int in 1..{MAX_DEVICES}, got {devices!r}")
    if not isinstance(batch, int) or batch < 1:
        raise PlacementError(f"batch: expected an int >= 1, got {batch!r}")
    if model != BUILT_IN and not os.path.exists(model):
        raise PlacementError(f"{model}: no such file or directory (MODEL is {BUILT_IN} or a "
                             "GraphDef/.meta/SavedModel path)")
    rng = np.random.default_rng(seed)
    if model == BUILT_IN:
        towers = devices if policy == "towers" else 1
        graph_def, fetches, feeds, init_ops = _hello_mnist(towers, batch, seed, rng)
    else:
        graph_def, fetches, feeds, init_ops = _from_path(model, fetch, batch, rng, tags, signature)
    if policy:
        graph_def = place_graph_def(graph_def, policy_for(policy, graph_def, devices, rules))
    return PlacedStep(model, graph_def, tuple(fetches), feeds, tuple(init_ops), devices, policy)


def run_placed_step(step: PlacedStep, soft_placement: bool = False, log_device_placement: bool = False,
                    warmup: int = 0) -> PlacedRun:
    """Runs one traced step of `step` in a session with `step.devices` CPU devices.

    Args:
      soft_placement: let TensorFlow run an op elsewhere when its requested device is missing.
      log_device_placement: TensorFlow prints each op's device (to stdout) as it places the graph.
      warmup: untraced steps first.
    Returns:
      a PlacedRun whose RunMetadata has step stats and partition graphs.
    Raises:
      PlacementError: a requested device that does not parse or (without soft
        placement) does not exist, or TensorFlow cannot place the graph.
      TraceError: the step itself fails.
    """
    for node in step.graph_def.node:
        if node.device:
            parse_device(node.device)  # TensorFlow's import would fail on it with a long message
    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(step.graph_def, name="")
    config = session_config(cpu_devices=step.devices, soft_placement=soft_placement,
                            log_device_placement=log_device_placement)
    with v1.Session(graph=graph, config=config) as session:
        available = tuple(device.name for device in session.list_devices())
        check_devices(step.graph_def, available, soft_placement)
        if step.init_ops:
            try:
                session.run(list(step.init_ops))
            except tf.errors.OpError as err:
                raise PlacementError(f"{step.model}: initializing the variables: "
                                     f"{tf_error_line(err)}") from None
        try:
            run_metadata = run_traced(session, list(step.fetches), step.feeds, runs=1,
                                      partition_graphs=True, warmup=warmup)[0]
        except tf.errors.OpError as err:
            raise PlacementError(f"{step.model}: {tf_error_line(err)}") from None
    return PlacedRun(step.graph_def, run_metadata, available)


def requested_cpu_count(graph_def) -> int:
    """Logical CPU devices enough for every CPU index the graph requests (at least 1)."""
    highest = 0
    for node in graph_def.node:
        if node.device:
            fields = parse_device(node.device)
            if fields["type"] == "CPU" and fields["index"] not in (None, "*"):
                highest = max(highest, int(fields["index"]))
    return min(highest + 1, MAX_DEVICES)


def _hello_mnist(towers: int, batch: int, seed: int, rng):
    from graphkit.models.hello_mnist import build_hello_mnist

    model = build_hello_mnist(in_graph_pipeline=False, seed=seed, towers=towers)
    with model.graph.as_default():
        init = v1.group(v1.global_variables_initializer(), v1.local_variables_initializer(), name="init")
    feeds = {}
    for tensor in (*model.inputs.values(), *model.targets.values()):
        shape = tensor.shape.as_list()
        feeds[tensor.name] = random_array(rng, tensor.dtype, shape, batch, tensor.name)
    return model.graph.as_graph_def(), [model.loss.name, model.train_op.name], feeds, [init.name]


def _from_path(path: str, fetch, batch: int, rng, tags, signature):
    loaded = load_graph(path, tags=tags, signature=signature)
    graph_def = loaded.graph_def
    outputs = {key: spec.name for key, spec in loaded.signature_outputs.items() if spec.name}
    fetches = [outputs.get(name, name) for name in fetch] or [outputs[key] for key in sorted(outputs)]
    if not fetches:
        raise PlacementError(f"{path}: nothing to run: it has no signature; pass --fetch NAME")
    try:
        needed = prune(graph_def, fetches)
    except AnalysisError as err:
        raise PlacementError(str(err)) from None
    feeds = random_placeholder_feeds(needed, rng, batch)
    init_ops = []
    if any(node.op in VARIABLE_OPS for node in needed.node):
        init_ops = variable_initializers(graph_def)
        if not init_ops:
            raise PlacementError(f"{path}: the fetches read variables, but the graph has no "
                                 "<variable>/Assign initializers to give them values")
    return graph_def, fetches, feeds, init_ops
