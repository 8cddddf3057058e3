"""`GraphModel`: one hand-built graph and the tensors that give it meaning.

A model is defined once, as a `tf.Graph` plus named tensors; every feature of
graphkit (training, rendering, placement, XLA, export) takes a `GraphModel` or a
plain graph, so nothing needs to know how the model was built.

    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 4], name="x")
        ...
    model = GraphModel(graph, inputs={"x": x}, outputs={"probabilities": p}, ...)
"""

from __future__ import annotations

import dataclasses
from types import MappingProxyType
from typing import Mapping, Optional

import tensorflow as tf

from graphkit.data.pipeline import InGraphPipeline
from graphkit.errors import ModelError


@dataclasses.dataclass(frozen=True)
class GraphModel:
    """A graph plus the named tensors every graphkit feature works from.

    Attributes:
      graph: the `tf.Graph` holding everything below.
      inputs: name -> placeholder of a model input (what a signature exposes).
      outputs: name -> output tensor (what a signature returns).
      targets: name -> placeholder of a training target (labels), not exported.
      loss: scalar training loss, or None for an inference-only model.
      train_op: op that runs one optimisation step, or None.
      metrics: name -> scalar metric tensor (mean over a batch).
      training: bool scalar placeholder_with_default(False) that turns dropout on.
      global_step: int64 variable counting optimisation steps, or None.
      pipeline: the in-graph input pipeline the inputs default to, or None.
    """

    graph: tf.Graph
    inputs: Mapping[str, tf.Tensor]
    outputs: Mapping[str, tf.Tensor]
    targets: Mapping[str, tf.Tensor] = dataclasses.field(default_factory=dict)
    loss: Optional[tf.Tensor] = None
    train_op: Optional[tf.Operation] = None
    metrics: Mapping[str, tf.Tensor] = dataclasses.field(default_factory=dict)
    training: Optional[tf.Tensor] = None
    global_step: Optional[tf.Variable] = None
    pipeline: Optional[InGraphPipeline] = None

    def __post_init__(self):
        for field in ("inputs", "outputs", "targets", "metrics"):
            object.__setattr__(self, field, MappingProxyType(dict(getattr(self, field))))
        self.validate()

    def validate(self) -> None:
        """Checks that every named tensor exists and lives in `graph`.

        Raises:
          ModelError: naming the field and tensor that is missing or foreign.
        """
        if not isinstance(self.graph, tf.Graph):
            raise ModelError(f"GraphModel.graph: expected a tf.Graph, got {type(self.graph).__name__}")
        if not self.outputs:
            raise ModelError("GraphModel.outputs: a model needs at least one named output")
        for field in ("inputs", "outputs", "targets", "metrics"):
            for name, tensor in getattr(self, field).items():
                self._check_member(f"{field}[{name!r}]", tensor)
        for field in ("loss", "train_op", "training", "global_step"):
            value = getattr(self, field)
            if value is not None:
                self._check_member(field, value)
        if self.train_op is not None and self.loss is None:
            raise ModelError("GraphModel.loss: a model with a train_op needs its loss tensor")

    def _check_member(self, where: str, value) -> None:
        if value is None:
            raise ModelError(f"GraphModel.{where}: is None, expected a tensor of the model's graph")
        graph = getattr(value, "graph", None)
        if graph is not self.graph:
            name = getattr(value, "name", repr(value))
            raise ModelError(f"GraphModel.{where}: {name} belongs to another graph")

    @property
    def feedable(self) -> Mapping[str, tf.Tensor]:
        """All placeholders a caller may feed by name: inputs, then targets."""
        return MappingProxyType({**self.inputs, **self.targets})

    def graph_def(self, add_shapes: bool = True) -> tf.compat.v1.GraphDef:
        """The model's GraphDef, with `_output_shapes` attrs for renderers."""
        return self.graph.as_graph_def(add_shapes=add_shapes)
