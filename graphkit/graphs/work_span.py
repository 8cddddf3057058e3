"""Static dataflow parallelism of a GraphDef: levels, critical path, work and span.

No session runs. The graph is a DAG of ops; an op may start once every op it
reads (data or control input) has finished. With a cost per op:

    work = sum of all op costs        (time on one worker)
    span = costliest dependency chain (time on infinitely many workers)

so P workers can speed a step up by at most `min(P, work / span)`, and a greedy
scheduler achieves at least `work / (work / P + span)` (Brent's bound).

    report = work_span(graph.as_graph_def(), fetches=["loss"], cost="flops")
    print(report.graph_form, report.parallelism, report.speedup_bound(2))

TensorFlow does not run the graph as written: Grappler prunes, folds constants
and merges identical subexpressions first. `grappler_optimized(graph_def,
fetches)` returns the rewritten GraphDef, and every report says which form it
describes (`GRAPH_AS_WRITTEN`, `GRAPH_OPTIMIZED`, or a run's partition graph).
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Mapping, Sequence
from types import MappingProxyType

from graphkit.errors import AnalysisError, tf_error_line
from graphkit.graphs.names import op_name

COST_MODELS = ("unit", "flops", "measured")
_MERGE_OPS = ("Merge", "RefMerge")
_NEXT_ITERATION_OPS = ("NextIteration", "RefNextIteration")
GRAPH_AS_WRITTEN = "as written"
GRAPH_OPTIMIZED = "optimised by Grappler"
GRAPH_PARTITIONS = "partition graphs of a run"
GRAPH_CALLS_INLINED = "as written, function calls inlined by Grappler"


@dataclasses.dataclass(frozen=True)
class WorkSpan:
    """What a graph's structure allows: the static parallelism of one step.

    Attributes:
      graph_form: which graph this describes (GRAPH_AS_WRITTEN, GRAPH_OPTIMIZED...).
      cost_model: "unit" (every op costs 1), "flops" (TensorFlow's FLOP statistics)
        or "measured" (given op times, e.g. durations from a trace).
      op_count: ops analysed (after pruning to the fetches' ancestors).
      levels: ops grouped by depth: level i holds the ops whose longest chain of
        inputs has i ops; every op of a level could run at the same time.
      work: sum of op costs.
      span: cost of the costliest dependency chain.
      critical_path: the op names along that chain, first to last.
      costs: op name -> cost used.
      unknown_cost_ops: ops whose cost is not known, counted as 0: under "flops",
        ops with a FLOP statistic whose input shapes are not known; under
        "measured", ops missing from the given costs.
    """

    graph_form: str
    cost_model: str
    op_count: int
    levels: tuple[tuple[str, ...], ...]
    work: float
    span: float
    critical_path: tuple[str, ...]
    costs: Mapping[str, float]
    unknown_cost_ops: tuple[str, ...] = ()

    @property
    def widest_level(self) -> int:
        """Index of the level with the most ops (the first one if tied)."""
        widths = [len(level) for level in self.levels]
        return widths.index(max(widths)) if widths else 0

    @property
    def width(self) -> int:
        """Number of ops in the widest level."""
        return max((len(level) for level in self.levels), default=0)

    @property
    def parallelism(self) -> float:
        """work / span: the speedup with unlimited workers (1.0 for an empty graph)."""
        return self.work / self.span if self.span > 0 else 1.0

    def speedup_bound(self, workers: int) -> float:
        """Upper bound on the speedup with `workers` workers: min(P, work / span)."""
        _check_workers(workers)
        return min(float(workers), self.parallelism)

    def brent_time(self, workers: int) -> float:
        """Brent's bound on a greedy schedule's time: work / P + span (cost units)."""
        _check_workers(workers)
        return self.work / workers + self.span

    def brent_speedup(self, workers: int) -> float:
        """Speedup a greedy scheduler is guaranteed: work / (work / P + span)."""
        time = self.brent_time(workers)
        return self.work / time if time > 0 else 1.0


def _check_workers(workers: int) -> None:
    if not isinstance(workers, int) or workers < 1:
        raise AnalysisError(f"workers: expected an int >= 1, got {workers!r}")


def dependencies(graph_def, loop_back_edges: bool = False) -> dict[str, tuple[str, ...]]:
    """Op name -> names of the ops it waits for (data and control inputs).

    The back edge of a classic while loop (NextIteration -> Merge) is dropped
    unless `loop_back_edges` is set, so the result is acyclic for well-formed
    graphs; pruning keeps them, since a loop needs its body.

    Raises:
      AnalysisError: an input names a node that is not in the graph.
    """
    ops_by_name = {node.name: node.op for node in graph_def.node}
    result = {}
    for node in graph_def.node:
        inputs = []
        for raw in node.input:
            source = op_name(raw)
            if source not in ops_by_name:
                raise AnalysisError(f"{node.name}: input {raw!r} names no node of the graph")
            is_loop_back_edge = node.op in _MERGE_OPS and ops_by_name[source] in _NEXT_ITERATION_OPS
            if (loop_back_edges or not is_loop_back_edge) and source not in inputs:
                inputs.append(source)
        result[node.name] = tuple(inputs)
    return result


def topological_order(deps: Mapping[str, Sequence[str]]) -> list[str]:
    """Op names ordered so that every op follows its inputs (Kahn's algorithm, stable).

    Raises:
      AnalysisError: the graph has a cycle (naming some ops on it).
    """
    consumers: dict[str, list[str]] = {name: [] for name in deps}
    waiting = {}
    for name, inputs in deps.items():
        waiting[name] = len(inputs)
        for source in inputs:
            consumers[source].append(name)
    ready = collections.deque(name for name in deps if waiting[name] == 0)
    order = []
    while ready:
        name = ready.popleft()
        order.append(name)
        for consumer in consumers[name]:
            waiting[consumer] -= 1
            if waiting[consumer] == 0:
                ready.append(consumer)
    if len(order) != len(deps):
        stuck = sorted(name for name, count in waiting.items() if count > 0)
        raise AnalysisError(f"graph: cycle outside a while loop through {stuck[:5]}")
    return order


def prune(graph_def, fetches: Sequence[str] | None, feeds: Sequence[str] = ()):
    """The GraphDef cut down to the ops `fetches` need (all of it if None).

    A fed op needs nothing: like Session.run, the walk stops there, and the op
    loses its inputs (a fed PlaceholderWithDefault becomes a Placeholder).

    Args:
      fetches: op or tensor names (`loss`, `loss:0`, `^train_op`).
      feeds: op or tensor names that the run feeds (`x:0`).
    Raises:
      AnalysisError: a fetch or feed names no op of the graph.
    """
    if not fetches and not feeds:
        return graph_def
    names = {node.name for node in graph_def.node}
    for kind, given in (("fetch", fetches or ()), ("feed", feeds)):
        missing = [name for name in given if op_name(name) not in names]
        if missing:
            raise AnalysisError(f"{kind} {missing[0]!r}: no such op in the graph ({len(names)} ops)")
    fed = {op_name(name) for name in feeds}
    deps = dependencies(graph_def, loop_back_edges=True)
    if fetches:
        keep, stack = set(), [op_name(fetch) for fetch in fetches]
        while stack:
            name = stack.pop()
            if name not in keep:
                keep.add(name)
                stack.extend(() if name in fed else deps[name])
    else:
        keep = names
    pruned = type(graph_def)()
    pruned.versions.CopyFrom(graph_def.versions)
    pruned.library.CopyFrom(graph_def.library)
    for node in graph_def.node:
        if node.name not in keep:
            continue
        copy = pruned.node.add()
        copy.CopyFrom(node)
        if node.name in fed:
            del copy.input[:]
            if copy.op == "PlaceholderWithDefault":
                copy.op = "Placeholder"
    return pruned


def sink_ops(graph_def) -> list[str]:
    """Ops that no other op reads: the natural fetches of a graph."""
    read = {op_name(raw) for node in graph_def.node for raw in node.input}
    return [node.name for node in graph_def.node if node.name not in read]


def unit_costs(graph_def) -> dict[str, float]:
    """Every op costs 1: span counts ops on the longest chain."""
    return {node.name: 1.0 for node in graph_def.node}


def flop_costs(graph_def, unknown_dim: int | None = None) -> tuple[dict[str, float], tuple[str, ...]]:
    """FLOPs per op from TensorFlow's registered op statistics ("flops").

    The GraphDef is imported into a fresh graph so TensorFlow's shape inference
    gives every tensor its static shape. Ops with no FLOP statistic (Const,
    Identity, variables...) cost 0.

    Args:
      unknown_dim: size given to unknown placeholder dimensions (e.g. the batch
        dimension) before shapes are inferred; None leaves them unknown.
    Returns:
      (op name -> FLOPs, names of ops that have a FLOP statistic but whose input
      shapes are not fully known, costed 0).
    Raises:
      AnalysisError: the GraphDef cannot be imported (unknown op, bad attr).
    """
    import tensorflow as tf

    from graphkit.tf_private import op_flops

    graph_def = _importable_copy(graph_def, unknown_dim)
    graph = tf.Graph()
    try:
        with graph.as_default():
            tf.graph_util.import_graph_def(graph_def, name="")
    except (ValueError, TypeError, tf.errors.OpError) as err:
        raise AnalysisError(f"graph: cannot import the GraphDef for FLOP statistics: "
                            f"{str(err).splitlines()[0]}") from err
    costs, unknown = {}, []
    for node in graph_def.node:
        try:
            value = op_flops(graph, node)
        except (ValueError, TypeError):  # statistic registered, shapes not fully defined
            value = None
            unknown.append(node.name)
        costs[node.name] = float(value or 0)
    return costs, tuple(unknown)


def _importable_copy(graph_def, unknown_dim: int | None):
    """A copy without colocation constraints (pruning may have removed their targets),
    with unknown placeholder dimensions set to `unknown_dim` when it is given."""
    fixed = type(graph_def)()
    fixed.CopyFrom(graph_def)
    for node in fixed.node:
        if "_class" in node.attr:
            del node.attr["_class"]
        if unknown_dim is None or node.op not in ("Placeholder", "PlaceholderWithDefault"):
            continue
        if "shape" in node.attr:
            for dim in node.attr["shape"].shape.dim:
                if dim.size < 0:
                    dim.size = unknown_dim
        if "_output_shapes" in node.attr:
            del node.attr["_output_shapes"]
    return fixed


def work_span(
    graph_def,
    fetches: Sequence[str] | None = None,
    feeds: Sequence[str] = (),
    cost: str = "unit",
    graph_form: str = GRAPH_AS_WRITTEN,
    unknown_dim: int | None = None,
    measured_costs: Mapping[str, float] | None = None,
) -> WorkSpan:
    """Levels, work, span and critical path of a GraphDef.

    Args:
      graph_def: a tf.compat.v1.GraphDef (as written, Grappler's output, or a
        run's partition graphs merged with `merge_partition_graphs`).
      fetches: analyse only the ops these op/tensor names need; None: all ops.
      feeds: op/tensor names fed by the run: what they depend on does not run.
      cost: "unit", "flops" (see `flop_costs`) or "measured" (`measured_costs`).
      graph_form: which graph `graph_def` is, recorded in the report.
      unknown_dim: for "flops", the size of unknown placeholder dimensions.
      measured_costs: for "measured", op name -> cost, e.g. microseconds from
        `graphkit.graphs.step_stats.op_durations` of a run whose partition graphs these are.
    Returns:
      a WorkSpan.
    Raises:
      AnalysisError: unknown cost model, fetch or feed, a missing input, a cycle.
    """
    if cost not in COST_MODELS:
        raise AnalysisError(f"cost: expected one of {COST_MODELS}, got {cost!r}")
    if (cost == "measured") != (measured_costs is not None):
        raise AnalysisError(f"measured_costs: give them exactly when cost='measured' (cost={cost!r})")
    graph_def = prune(graph_def, fetches, feeds)
    deps = dependencies(graph_def)
    order = topological_order(deps)
    if cost == "unit":
        costs, unknown = unit_costs(graph_def), ()
    elif cost == "flops":
        costs, unknown = flop_costs(graph_def, unknown_dim)
    else:
        costs = {node.name: float(measured_costs.get(node.name, 0.0)) for node in graph_def.node}
        unknown = tuple(node.name for node in graph_def.node if node.name not in measured_costs)

    depth: dict[str, int] = {}
    finish: dict[str, float] = {}
    slowest_input: dict[str, str | None] = {}
    for name in order:
        inputs = deps[name]
        depth[name] = 1 + max((depth[source] for source in inputs), default=-1)
        slowest = max(inputs, key=lambda source: finish[source], default=None)
        slowest_input[name] = slowest
        finish[name] = costs[name] + (finish[slowest] if slowest is not None else 0.0)

    levels: list[list[str]] = [[] for _ in range(1 + max(depth.values(), default=-1))]
    for name in order:
        levels[depth[name]].append(name)

    path: list[str] = []
    last = max(order, key=lambda name: (finish[name], depth[name]), default=None)  # deeper wins ties
    while last is not None:
        path.append(last)
        last = slowest_input[last]
    return WorkSpan(
        graph_form=graph_form,
        cost_model=cost,
        op_count=len(order),
        levels=tuple(tuple(level) for level in levels),
        work=float(sum(costs.values())),
        span=float(finish[path[0]]) if path else 0.0,
        critical_path=tuple(reversed(path)),
        costs=MappingProxyType(dict(costs)),
        unknown_cost_ops=unknown,
    )


def grappler_optimized(graph_def, fetches: Sequence[str], feeds: Sequence[str] = (), config=None):
    """The GraphDef as Grappler rewrites it before a session runs it.

    Runs TensorFlow's default Grappler passes (pruning, constant folding, common
    subexpression elimination, arithmetic and layout optimisers...) with
    `fetches` kept alive. The session's own rewrites that are not Grappler (e.g.
    oneDNN op renaming, placement) are not applied: use a run's partition graphs
    for exactly what ran.

    Args:
      fetches: op or tensor names that must survive (required: without them
        Grappler would prune everything).
      feeds: op/tensor names the run will feed; they are cut loose from their
        inputs first (see `prune`), as a session does before Grappler runs.
      config: a ConfigProto whose graph_options.rewrite_options pick passes.
    Returns:
      the optimised GraphDef.
    Raises:
      AnalysisError: no fetches, a fetch names no op of the graph, or
        TensorFlow cannot import the graph.
    """
    import tensorflow as tf
    from tensorflow.core.protobuf import meta_graph_pb2

    from graphkit.tf_private import optimize_graph

    if not fetches:
        raise AnalysisError("fetches: Grappler needs at least one fetch to keep, got none")
    graph_def = prune(graph_def, fetches, feeds)  # also validates the names
    graph = tf.Graph()
    try:
        with graph.as_default():
            tf.graph_util.import_graph_def(graph_def, name="")
            meta_graph = tf.compat.v1.train.export_meta_graph(graph=graph)
    except (ValueError, TypeError, tf.errors.OpError) as err:
        raise AnalysisError(f"graph: cannot import the GraphDef for Grappler: {tf_error_line(err)}") from None
    fetch_collection = meta_graph_pb2.CollectionDef()
    fetch_collection.node_list.value.extend(fetches)
    meta_graph.collection_def["train_op"].CopyFrom(fetch_collection)
    return optimize_graph(config or tf.compat.v1.ConfigProto(), meta_graph)


def inlining_config():
    """A ConfigProto whose Grappler runs only its function optimizer: calls inlined, nothing else rewritten.

    For `grappler_optimized(..., config=inlining_config())`: the graph as
    written with function bodies in place, importable, so FLOP statistics see
    every op of a TF2 SavedModel (GRAPH_CALLS_INLINED).
    """
    import tensorflow as tf

    config = tf.compat.v1.ConfigProto()
    config.graph_options.rewrite_options.optimizers.append("function")
    return config


def merge_partition_graphs(run_metadata):
    """One GraphDef holding every partition graph of a run (what actually ran).

    Needs a run made with RunOptions(output_partition_graphs=True).

    Raises:
      AnalysisError: the RunMetadata holds no partition graphs.
    """
    from tensorflow.core.framework import graph_pb2

    if not run_metadata.partition_graphs:
        raise AnalysisError("run_metadata: holds no partition graphs; run with "
                            "RunOptions(output_partition_graphs=True)")
    merged = graph_pb2.GraphDef()
    for partition in run_metadata.partition_graphs:
        merged.node.extend(partition.node)
        merged.versions.CopyFrom(partition.versions)
    return merged
