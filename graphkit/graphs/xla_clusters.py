"""Which ops XLA compiled, read from what TensorFlow wrote and ran (protos in, records out).

TensorFlow decides XLA clusters in its `mark_for_compilation` pass. With
`TF_XLA_FLAGS=--tf_xla_clustering_debug` and `TF_DUMP_GRAPH_PREFIX=DIR` it
writes that pass's graph twice per executor graph: `mark_for_compilation.pbtxt`
(each clustered node carries a `_XlaCluster` attr naming its cluster) and
`mark_for_compilation_annotated.pbtxt` (every node renamed `cluster_N/<name>`,
`varhandle/<name>` for a resource variable's handle, or `unclustered/<name>`);
later graphs of the process get `_1`, `_2` ... suffixes. A traced run's
partition graphs then show what ran: a `_XlaCompile` / `_XlaRun` pair per
compiled cluster (named `cluster_N_<k>/xla_compile`, its `function` attr
naming `cluster_N`), and a `PartitionedCall` with `_XlaMustCompile` for each
function compiled explicitly.

    dumps = read_clustering_dumps("dump_dir")
    report = cluster_report(dumps, run_metadata.partition_graphs, graph_def)
    report.cluster_of["mul_3"]                # "cluster_0"
    [(op.name, op.reason) for op in report.unclustered]

The dumped graphs are the graphs that ran: after Grappler, with `_Arg`/`_Retval`
nodes for feeds and fetches and cloned constants (`mul/y/clone_0`). A report
keeps every node TensorFlow clustered; `graph_op_groups` keeps those of the
user's GraphDef, for drawings.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import re
from collections import Counter
from types import MappingProxyType
from typing import Collection, Iterable, Mapping, Optional, Sequence

from google.protobuf import text_format
from tensorflow.core.framework import graph_pb2

from graphkit.errors import XlaError
from graphkit.graphs.names import natural_key

CLUSTER_ATTR = "_XlaCluster"
COMPILE_ATTR = "_XlaCompile"
MUST_COMPILE_ATTR = "_XlaMustCompile"
MARKED_DUMP = "mark_for_compilation"
ANNOTATED_DUMP = "mark_for_compilation_annotated"
UNCLUSTERED = "unclustered"
VARIABLE_HANDLE = "varhandle"  # the annotated dump's prefix for VarHandleOp nodes, which no cluster takes
COMPILE_OP = "_XlaCompile"
RUN_OP = "_XlaRun"
FEED_FETCH_OPS = frozenset({"_Arg", "_Retval"})
KIND_CLUSTER = "cluster"    # found by mark_for_compilation (jit_scope or auto-clustering)
KIND_FUNCTION = "function"  # a function called with _XlaMustCompile (jit_compile=True)

_CLUSTER_NAME = re.compile(r"^(cluster_\d+)/(.+)$")
_DUMP_SUFFIX = re.compile(r"^(?P<stem>.+?)(?:_(?P<index>\d+))?\.pbtxt$")
_RUN_CLUSTER = re.compile(r"^(cluster_\d+)_\d+/")


@dataclasses.dataclass(frozen=True)
class ClusteringDump:
    """One executor graph as TensorFlow's mark_for_compilation pass wrote it.

    Attributes:
      index: the dump's number in its directory (0 for `mark_for_compilation.pbtxt`, k for `_k`).
      marked: the `mark_for_compilation[_k].pbtxt` GraphDef (`_XlaCluster` attrs).
      annotated: the `mark_for_compilation_annotated[_k].pbtxt` GraphDef (renamed nodes).
    """

    index: int
    marked: graph_pb2.GraphDef
    annotated: graph_pb2.GraphDef


@dataclasses.dataclass(frozen=True)
class XlaCluster:
    """One compiled unit: a cluster TensorFlow formed, or a function compiled explicitly.

    Attributes:
      name: "cluster_0" (mark_for_compilation's name) or the function's name.
      kind: KIND_CLUSTER or KIND_FUNCTION.
      ops: names of the nodes in it (for a function: the calling op, then "call/body_node").
      op_types: (op type, count) pairs, most frequent first.
      ran: the traced run compiled and ran it (`_XlaCompile`/`_XlaRun`, or the must-compile call).
    """

    name: str
    kind: str
    ops: tuple
    op_types: tuple
    ran: bool


@dataclasses.dataclass(frozen=True)
class UnclusteredOp:
    """A node of a dumped graph that no cluster took.

    Attributes:
      name: the node's name in the graph that ran.
      op_type: its op type.
      reason: why, where TensorFlow says so (an attr, its kernel registry, a feed or fetch); "" otherwise.
    """

    name: str
    op_type: str
    reason: str


@dataclasses.dataclass(frozen=True)
class ClusterReport:
    """What XLA took from one run: clusters, the ops left out and why.

    Attributes:
      clusters: XlaCluster records in natural name order.
      unclustered: UnclusteredOp records of the dumped graphs, in graph order.
      dump_files: how many executor graphs the clustering dump held.
    """

    clusters: tuple
    unclustered: tuple
    dump_files: int

    @property
    def cluster_of(self) -> Mapping[str, str]:
        """Op name -> the name of the cluster it is in."""
        return MappingProxyType({op: cluster.name for cluster in self.clusters for op in cluster.ops})

    @property
    def clustered_ops(self) -> int:
        """How many nodes are in some cluster."""
        return sum(len(cluster.ops) for cluster in self.clusters)

    def as_dict(self) -> dict:
        """The report as plain JSON-ready data."""
        return {"clusters": [{"name": c.name, "kind": c.kind, "ran": c.ran, "ops": list(c.ops),
                              "op_types": dict(c.op_types)} for c in self.clusters],
                "unclustered": [{"name": u.name, "op_type": u.op_type, "reason": u.reason}
                                for u in self.unclustered],
                "clustered_ops": self.clustered_ops, "dump_files": self.dump_files}

    def graph_op_groups(self, graph_ops: Collection[str]) -> dict:
        """Op name -> cluster name for the ops of `graph_ops` (a user's GraphDef) that are clustered."""
        return {op: cluster for op, cluster in self.cluster_of.items() if op in graph_ops}


def read_clustering_dumps(directory: str) -> tuple:
    """The ClusteringDump records of a TF_DUMP_GRAPH_PREFIX directory, by index.

    TensorFlow writes a pair only for a graph with ops it may compile (a graph whose only
    compiled part is a jit_compile function gets none), and only with
    TF_XLA_FLAGS=--tf_xla_clustering_debug set before its first session.

    Raises:
      XlaError: the directory is missing, a pair lacks one file, or a dump does not parse.
    """
    if not os.path.isdir(directory):
        raise XlaError(f"{directory}: no such directory of clustering dumps")
    found = {}
    for path in glob.glob(os.path.join(directory, f"{MARKED_DUMP}*.pbtxt")):
        match = _DUMP_SUFFIX.match(os.path.basename(path))
        if match and match.group("stem") in (MARKED_DUMP, ANNOTATED_DUMP):
            index = int(match.group("index") or 0)
            found.setdefault(index, {})[match.group("stem")] = _read_graph_def(path)
    complete = {index: pair for index, pair in found.items() if len(pair) == 2}
    if len(complete) != len(found):
        index = min(set(found) - set(complete))
        raise XlaError(f"{directory}: clustering dump {index} lacks its {MARKED_DUMP} or "
                       f"{ANNOTATED_DUMP} file")
    return tuple(ClusteringDump(index, pair[MARKED_DUMP], pair[ANNOTATED_DUMP])
                 for index, pair in sorted(complete.items()))


def _read_graph_def(path: str) -> graph_pb2.GraphDef:
    graph_def = graph_pb2.GraphDef()
    try:
        with open(path, encoding="utf-8") as handle:
            text_format.Parse(handle.read(), graph_def)
    except (OSError, text_format.ParseError) as err:
        raise XlaError(f"{path}: not a readable text GraphDef ({err})") from err
    return graph_def


def clusters_from_attrs(graph_def: graph_pb2.GraphDef) -> dict:
    """Cluster name -> node names, read from the `_XlaCluster` attrs of a `mark_for_compilation` dump."""
    clusters: dict = {}
    for node in graph_def.node:
        if CLUSTER_ATTR in node.attr:
            clusters.setdefault(node.attr[CLUSTER_ATTR].s.decode(), []).append(node.name)
    return {name: tuple(ops) for name, ops in clusters.items()}


def clusters_from_names(graph_def: graph_pb2.GraphDef) -> tuple:
    """(cluster name -> node names, unclustered NodeDefs) from the renamed nodes of an annotated dump.

    Raises:
      XlaError: a node is named neither `cluster_N/...` nor `unclustered/...`.
    """
    clusters: dict = {}
    unclustered = []
    for node in graph_def.node:
        match = _CLUSTER_NAME.match(node.name)
        if match:
            clusters.setdefault(match.group(1), []).append(match.group(2))
        elif node.name.startswith((f"{UNCLUSTERED}/", f"{VARIABLE_HANDLE}/")):
            unclustered.append(node)
        else:
            raise XlaError(f"{node.name}: expected cluster_N/<op>, {UNCLUSTERED}/<op> or "
                           f"{VARIABLE_HANDLE}/<op> in an annotated clustering dump")
    return {name: tuple(ops) for name, ops in clusters.items()}, tuple(unclustered)


def clusters_that_ran(partition_graphs: Iterable[graph_pb2.GraphDef]) -> tuple:
    """(cluster names compiled and run by `_XlaCompile`/`_XlaRun`, must-compile calls as
    (calling op, function name)) in the partition graphs of a traced run."""
    compiled, runs, calls = set(), set(), []
    for partition in partition_graphs:
        for node in partition.node:
            if node.op == COMPILE_OP:
                compiled.add(node.attr["function"].func.name)
            elif node.op == RUN_OP:
                match = _RUN_CLUSTER.match(node.name)
                if match:
                    runs.add(match.group(1))
            elif node.attr[MUST_COMPILE_ATTR].b and "f" in node.attr:
                calls.append((node.name, node.attr["f"].func.name))
    return tuple(sorted(compiled & runs, key=natural_key)), tuple(calls)


def cluster_report(dumps: Sequence[ClusteringDump], partition_graphs: Iterable[graph_pb2.GraphDef] = (),
                   graph_def: Optional[graph_pb2.GraphDef] = None,
                   no_xla_kernel: Collection[str] = (), auto_clustering: bool = True) -> ClusterReport:
    """The report of one run: the clusters of its clustering dumps plus the functions it compiled.

    Args:
      dumps: ClusteringDump records of the run (read_clustering_dumps); cluster names of dumps after
        the first get "@<index>" when two dumps use the same name.
      partition_graphs: the traced run's RunMetadata.partition_graphs (what ran).
      graph_def: the user's GraphDef, for the bodies of functions compiled with jit_compile.
      no_xla_kernel: op types TensorFlow's kernel registry has no XLA_CPU_JIT kernel for.
      auto_clustering: the session's global_jit_level was on (else only marked ops could cluster).
    Returns:
      a ClusterReport.
    Raises:
      XlaError: an annotated dump's names do not parse, or disagree with its `_XlaCluster` attrs.
    """
    partition_graphs = tuple(partition_graphs)
    ran, calls = clusters_that_ran(partition_graphs)
    clusters, unclustered, seen = [], [], set()
    for dump in dumps:
        by_name, left_out = clusters_from_names(dump.annotated)
        by_attr = clusters_from_attrs(dump.marked)
        if {k: sorted(v) for k, v in by_name.items()} != {k: sorted(v) for k, v in by_attr.items()}:
            raise XlaError(f"clustering dump {dump.index}: the annotated names and the {CLUSTER_ATTR} attrs "
                           f"disagree")
        types = {node.name: node.op for node in dump.marked.node}
        for name in sorted(by_name, key=natural_key):
            label = name if name not in seen else f"{name}@{dump.index}"
            seen.add(name)
            ops = by_name[name]
            clusters.append(XlaCluster(label, KIND_CLUSTER, ops, _type_counts(types[op] for op in ops),
                                       name in ran))
        marked = {node.name: node for node in dump.marked.node}
        for node in left_out:
            original = marked.get(node.name.split("/", 1)[1], node)
            unclustered.append(UnclusteredOp(original.name, node.op,
                                             _reason(original, frozenset(no_xla_kernel), auto_clustering)))
    if not dumps:  # no graph with ops to cluster: what ran outside the compiled calls stayed out
        called = {call for call, _ in calls}
        unclustered = [UnclusteredOp(node.name, node.op,
                                     _reason(node, frozenset(no_xla_kernel), auto_clustering))
                       for partition in partition_graphs for node in partition.node
                       if node.name not in called]
    library = ({function.signature.name: function for function in graph_def.library.function}
               if graph_def is not None else {})
    for call, function_name in calls:
        body = library.get(function_name)
        body_ops = tuple(f"{call}/{node.name}" for node in body.node_def) if body is not None else ()
        body_types = (node.op for node in body.node_def) if body is not None else ()
        clusters.append(XlaCluster(function_name, KIND_FUNCTION, (call, *body_ops),
                                   _type_counts(body_types), True))
    return ClusterReport(tuple(clusters), tuple(unclustered), len(dumps))


def _reason(node, no_xla_kernel: frozenset, auto_clustering: bool) -> str:
    """Why a node stayed out, from what TensorFlow recorded about it (attrs, kernel registry)."""
    if node.op in FEED_FETCH_OPS:
        return f"{node.op}: a feed or fetch of the session run"
    if node.op in no_xla_kernel:
        return f"no XLA_CPU_JIT kernel registered for {node.op}"
    if COMPILE_ATTR in node.attr and not node.attr[COMPILE_ATTR].b:
        return f"{COMPILE_ATTR}=false (a scope with compilation off)"
    if COMPILE_ATTR not in node.attr and not auto_clustering:
        return f"no {COMPILE_ATTR} mark (outside every jit scope) and the session does not auto-cluster"
    return ""


def _type_counts(types: Iterable[str]) -> tuple:
    return tuple(sorted(Counter(types).items(), key=lambda item: (-item[1], item[0])))
