"""The graph walk: which boxes and edges a drawing of a GraphDef has.

This module decides content only (what is a box, which scope is a cluster,
which edges merge, what every op became); it knows nothing of colours, shapes
or Graphviz. `graphkit.viz.style` says how each kind of box looks and
`graphkit.viz.dot` turns a `GraphView` into DOT.

Name scopes form a tree. An expanded scope becomes a cluster around its
contents; a collapsed scope becomes one box that counts its ops. An op whose
name is also a scope (`dense/kernel` with `dense/kernel/Read/...` below it) is
the head of that scope, so a collapsed variable scope still reads as the
variable. With `depth=None` the walk picks the expansion itself: breadth first,
cheapest scopes first, never a scope headed by an op, while the drawing stays
within `max_boxes` boxes. Numbered siblings with the same inner structure
(`block0` ... `block35`) form a series (`graphkit.viz.series`), drawn as one box
`block[0-35]` that expands like a scope; the automatic view opens the members of
a series together or not at all.

    view = build_view(loaded.graph_def, ViewOptions(depth=1, hide=("save",)))
    view.accounting.total == len(loaded.graph_def.node)   # every op accounted for
"""

from __future__ import annotations

import collections
import dataclasses
import difflib
import heapq
import re
from typing import Mapping, Optional, Sequence

from tensorflow.core.framework import graph_pb2

from graphkit.errors import RenderError
from graphkit.graphs.names import VARIABLE_OPS, is_control, op_name, output_index
from graphkit.graphs.saved_model import TensorRecord
from graphkit.viz import tensor_facts
from graphkit.viz.fold_rules import check_rules, fold_blocks
from graphkit.viz.functions import call_kind, function_names, inline_bodies
from graphkit.viz.noise import training_noise
from graphkit.viz.series import SeriesNames, find_series

DEFAULT_MAX_BOXES = 60

# Box kinds: the style table has one entry per kind.
OP = "op"
VARIABLE = "variable"
CONSTANT = "constant"
PLACEHOLDER = "placeholder"
SCOPE = "scope"
FOLDED = "folded"
INPUT_PORT = "input"
OUTPUT_PORT = "output"
STUB = "stub"
BOX_KINDS = (OP, VARIABLE, CONSTANT, PLACEHOLDER, SCOPE, FOLDED, INPUT_PORT, OUTPUT_PORT, STUB)
# Cluster kinds: a name scope, a function body (PartitionedCall), a loop (While or a v1
# while_loop frame), a conditional (If, or a v1 cond's Switch/Merge).
CLUSTER_KINDS = ("scope", "function", "loop", "branch")
_V1_LOOP_OPS = frozenset({"LoopCond"})
_V1_BRANCH_OPS = frozenset({"Switch", "RefSwitch"})

# Ids of folded groups and ports hold "[" and " ", which op names never contain (nor ":", a DOT port).
FOLDED_PREFIX = "[folded] "
INPUT_PREFIX = "[input] "
OUTPUT_PREFIX = "[output] "
STUB_PREFIX = "[stub] "
# The folded training machinery sits in its own frame, beside the model.
TRAINING_CLUSTER = "[training machinery]"
# A box feeding this many other boxes (a `training` flag, a shared constant) is drawn as a stub
# beside each consumer: edges that cross the whole canvas cost Graphviz most of its layout time.
AUXILIARY_FANOUT = 8
CONSTANT_OPS = frozenset({"Const", "HostConst"})
PLACEHOLDER_OPS = frozenset({"Placeholder", "PlaceholderWithDefault", "PlaceholderV2"})
_TOOLTIP_OP_TYPES = 5


@dataclasses.dataclass(frozen=True)
class ViewOptions:
    """What to draw.

    Attributes:
      depth: scope levels to expand (0: every top-level scope is one box); None
        picks the expansion that keeps the drawing within `max_boxes`.
      expand: scopes drawn expanded whatever the depth (their parents too).
      hide: scopes or ops left out of the drawing.
      prune_to: op or tensor name (or signature output key): keep only what it depends on.
      show_training_noise: draw gradients, optimizer slots, initializers and
        save/restore ops in their scopes instead of folding each group into one box.
      max_boxes: the box budget of the automatic expansion (the small stubs that stand for
        edges to auxiliary and folded boxes come on top).
      series: draw numbered siblings of the same structure as one series box (`block[0-35]`).
      fold_rules: op chains drawn as one labelled block (graphkit.viz.fold_rules.FoldRule or
        "LABEL=OpType>OpType" text); None: DEFAULT_FOLD_RULES (dense layers, dropout); (): none.
    """

    depth: Optional[int] = None
    expand: tuple = ()
    hide: tuple = ()
    prune_to: Optional[str] = None
    show_training_noise: bool = False
    max_boxes: int = DEFAULT_MAX_BOXES
    series: bool = True
    fold_rules: Optional[tuple] = None

    def __post_init__(self):
        object.__setattr__(self, "fold_rules", check_rules(self.fold_rules))
        for field in ("expand", "hide"):
            names = getattr(self, field)
            names = (names,) if isinstance(names, str) else tuple(names or ())
            object.__setattr__(self, field, tuple(name.strip("/") for name in names))
        if self.depth is not None and (not isinstance(self.depth, int) or self.depth < 0):
            raise RenderError(f"depth: expected an integer >= 0, got {self.depth!r}")
        if not isinstance(self.max_boxes, int) or self.max_boxes < 1:
            raise RenderError(f"max_boxes: expected an integer >= 1, got {self.max_boxes!r}")


@dataclasses.dataclass(frozen=True)
class Box:
    """One node of the drawing.

    Attributes:
      id: unique id: the op name, the scope path, "[folded] <group>", "[input] <key>" or "[output] <key>".
      kind: one of BOX_KINDS.
      name: the short name shown first (an op's or scope's last name component).
      cluster: path of the expanded scope the box sits in; "" for the top level.
      op_count: ops this box stands for (1 for an op, 0 for a signature port).
      op_type: the op's type; for a collapsed scope the type of its head op, or "".
        A collapsed scope with a head op (the op named like the scope) takes the head's kind.
      detail: one short extra line (a variable's shape, a port's tensor), or "".
      tooltip: lines for the hover text: full name, op type, device, key attrs.
    """

    id: str
    kind: str
    name: str
    cluster: str
    op_count: int
    op_type: str = ""
    detail: str = ""
    tooltip: tuple = ()


@dataclasses.dataclass(frozen=True)
class Edge:
    """One arrow: data or control, possibly standing for `count` merged graph edges.

    Attributes:
      label: "[?,512] float32" for one tensor (":1 ..." for output 1), "×N" when merged.
      tail_cluster / head_cluster: when set, that end stands for everything inside this
        top-level cluster (the arrow stops at its frame; the end's box is just one of its boxes).
    """

    tail: str
    head: str
    control: bool
    count: int
    label: str
    tail_cluster: str = ""
    head_cluster: str = ""


@dataclasses.dataclass(frozen=True)
class Cluster:
    """An expanded scope drawn as a frame around its contents.

    Attributes:
      kind: one of CLUSTER_KINDS: a name scope, a function body, a loop or a conditional.
    """

    path: str
    parent: str
    name: str
    op_count: int
    kind: str = "scope"


@dataclasses.dataclass(frozen=True)
class OpAccounting:
    """Where every op of the GraphDef went; the five parts sum to `total`.

    Attributes:
      total: ops in the GraphDef.
      visible: ops drawn as their own box.
      collapsed: ops counted inside collapsed-scope boxes.
      folded: ops counted inside folded training-noise boxes.
      hidden: ops left out by `hide`.
      pruned: ops left out by `prune_to`.
    """

    total: int
    visible: int
    collapsed: int
    folded: int
    hidden: int
    pruned: int

    @property
    def balanced(self) -> bool:
        return self.total == self.visible + self.collapsed + self.folded + self.hidden + self.pruned


@dataclasses.dataclass(frozen=True)
class GraphView:
    """The content of a drawing.

    Attributes:
      boxes: every node of the drawing, in graph order (ports and folded groups last).
      edges: every arrow.
      clusters: expanded scopes that hold at least one box, parents before children.
      accounting: where every op went.
      expanded: the expanded scope paths, sorted.
      depth: the deepest expanded level (0 when no scope is expanded).
      box_of: op name -> id of the box that draws it (hidden and pruned ops absent).
    """

    boxes: tuple
    edges: tuple
    clusters: tuple
    accounting: OpAccounting
    expanded: tuple
    depth: int
    box_of: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @property
    def visible_nodes(self) -> int:
        return len(self.boxes)


def build_view(graph_def: graph_pb2.GraphDef, options: ViewOptions = ViewOptions(),
               signature_inputs: Mapping[str, TensorRecord] = None,
               signature_outputs: Mapping[str, TensorRecord] = None) -> GraphView:
    """Decides the boxes, clusters and edges that draw `graph_def`.

    Args:
      graph_def: the graph; `_output_shapes` attrs give edge labels their shapes.
      options: depth, expanded/hidden scopes, pruning, noise folding, box budget.
      signature_inputs: key -> tensor drawn as a labelled input port.
      signature_outputs: key -> tensor drawn as a labelled output port.
    Returns:
      a GraphView whose accounting sums to the number of ops.
    Raises:
      RenderError: a scope to expand or hide, or the prune target, is not in the graph.
    """
    inputs, outputs = dict(signature_inputs or {}), dict(signature_outputs or {})
    graph_def = inline_bodies(graph_def)
    names = find_series(graph_def) if options.series else SeriesNames({}, {})
    if not names.series:
        return _Walk(graph_def, options, inputs, outputs, names).view()
    # The walk sees each series as one more scope level; the drawing gets the real names back.
    display = names.display
    renamed = graph_pb2.GraphDef()
    real_of = {}  # drawn op name -> real op name
    for node in graph_def.node:
        copy = renamed.node.add()
        copy.CopyFrom(node)
        copy.name = display(node.name)
        real_of[copy.name] = node.name
        copy.input[:] = [_display_tensor(tensor, display) for tensor in node.input]
    options = dataclasses.replace(
        options, expand=tuple(display(name) for name in options.expand),
        hide=tuple(display(name) for name in options.hide),
        prune_to=options.prune_to if options.prune_to is None or options.prune_to in outputs
        else _display_tensor(options.prune_to, display))
    inputs = {key: dataclasses.replace(spec, name=_display_tensor(spec.name, display))
              for key, spec in inputs.items()}
    outputs = {key: dataclasses.replace(spec, name=_display_tensor(spec.name, display))
               for key, spec in outputs.items()}
    return _real_names(_Walk(renamed, options, inputs, outputs, names).view(), real_of)


def _display_tensor(tensor: str, display) -> str:
    control = tensor.startswith("^")
    name = tensor[1:] if control else tensor
    op, colon, index = name.partition(":")
    return ("^" if control else "") + display(op) + colon + index


def _real_names(view: "GraphView", real_of: Mapping[str, str]) -> "GraphView":
    """The view with series components taken out of op names and box ids (not out of cluster paths)."""
    memo = dict(real_of)

    def real(name: str) -> str:
        found = memo.get(name)
        if found is None:
            found = memo[name] = SeriesNames.real(name)
        return found
    boxes = tuple(dataclasses.replace(box, id=real(box.id), tooltip=(real(box.tooltip[0]),) + box.tooltip[1:]
                                      if box.tooltip else ()) for box in view.boxes)
    edges = tuple(dataclasses.replace(edge, tail=real(edge.tail), head=real(edge.head))
                  for edge in view.edges)
    box_of = {real(name): real(box) for name, box in view.box_of.items()}
    return dataclasses.replace(view, boxes=boxes, edges=edges, box_of=box_of)


def scope_paths(names: Sequence[str]) -> set:
    """Every name scope that holds an op: "a/b/c" gives "a" and "a/b"."""
    scopes = set()
    for name in names:
        index = name.rfind("/")
        while index > 0:
            prefix = name[:index]
            if prefix in scopes:
                break
            scopes.add(prefix)
            index = name.rfind("/", 0, index)
    return scopes


def _series_pattern(path: str) -> str:
    """The path with each series member replaced by "*": scopes that open and close together."""
    if "[" not in path:
        return path
    parts = path.split("/")
    return "/".join("*" if i and parts[i - 1].endswith("]") else part for i, part in enumerate(parts))


def _parent(path: str) -> str:
    index = path.rfind("/")
    return path[:index] if index > 0 else ""


def _level(path: str) -> int:
    """Nesting level of a scope: 1 for a top-level scope; a series has its members' level."""
    if "[" not in path:
        return path.count("/") + 1 if path else 0
    parts = path.split("/")
    return sum(1 for part in parts if not part.endswith("]")) + parts[-1].endswith("]")


def _is_under(name: str, scope: str) -> bool:
    return name == scope or name.startswith(scope + "/")


def _did_you_mean(name: str, candidates) -> str:
    close = difflib.get_close_matches(name, sorted(candidates), n=3)
    return f"; did you mean {', '.join(close)}?" if close else ""


def box_kind(op_type: str) -> str:
    """The box kind of a single op of this type: VARIABLE, CONSTANT, PLACEHOLDER or OP."""
    if op_type in VARIABLE_OPS:
        return VARIABLE
    if op_type in CONSTANT_OPS:
        return CONSTANT
    if op_type in PLACEHOLDER_OPS:
        return PLACEHOLDER
    return OP


class _Walk:
    """One pass over a GraphDef for one set of options (state of `build_view`)."""

    def __init__(self, graph_def, options: ViewOptions, inputs: dict, outputs: dict, series: SeriesNames):
        self.options = options
        self.series = series.series
        self.graph_def = graph_def
        self.nodes = list(graph_def.node)
        self.by_name = {node.name: node for node in self.nodes}
        self.inputs, self.outputs = inputs, outputs
        self.all_scopes = scope_paths(self.by_name)
        self.v1_loops = set()
        self.frames = self._frames()
        self._check_names()

    def _frames(self) -> dict:
        """Scope -> (cluster kind, label) for function calls, loops and conditionals."""
        frames = {}
        for node in self.nodes:
            kind = call_kind(node)
            if kind and node.name in self.all_scopes:
                functions = " | ".join(function_names(node))
                label = node.name.rsplit("/", 1)[-1]
                title = label if label == node.op else f"{label} · {node.op}"
                frames[node.name] = (kind, title + (f"\n{functions}" if functions else ""))
            elif node.op in _V1_LOOP_OPS or node.op in _V1_BRANCH_OPS:
                scope = _parent(node.name)
                if scope and (scope not in frames or node.op in _V1_LOOP_OPS):
                    kind = "loop" if node.op in _V1_LOOP_OPS else "branch"
                    what = "while_loop" if kind == "loop" else "cond"
                    if kind == "loop":
                        self.v1_loops.add(scope)
                    frames[scope] = (kind, f"{scope.rsplit('/', 1)[-1]} · {what}")
        return frames

    # -- options against the graph --------------------------------------
    def _check_names(self) -> None:
        for scope in self.options.expand:
            if scope not in self.all_scopes:
                what = "an op, not a scope" if scope in self.by_name else "not a scope of the graph"
                known = self.all_scopes | {SeriesNames.real(path) for path in self.all_scopes}
                hint = _did_you_mean(SeriesNames.real(scope), known)
                raise RenderError(f"expand: {SeriesNames.real(scope)!r} is {what}{hint}")
        for name in self.options.hide:
            if name not in self.all_scopes and name not in self.by_name:
                raise RenderError(f"hide: no scope or op named {name!r} in the graph"
                                  f"{_did_you_mean(name, self.all_scopes | set(self.by_name))}")

    def _prune_target(self) -> Optional[str]:
        target = self.options.prune_to
        if target is None:
            return None
        if target in self.by_name:
            return target
        if op_name(target) in self.by_name and ":" in target:
            return op_name(target)
        if target in self.outputs and self.outputs[target].op_name in self.by_name:
            return self.outputs[target].op_name
        raise RenderError(f"prune-to: no op, tensor or signature output named {target!r} in the graph"
                          f"{_did_you_mean(target, set(self.by_name) | set(self.outputs))}")

    # -- which ops are drawn at all --------------------------------------
    def _pruned(self) -> set:
        target = self._prune_target()
        if target is None:
            return set()
        kept, stack = {target}, [target]
        while stack:
            for tensor in self.by_name[stack.pop()].input:
                source = op_name(tensor)
                if source in self.by_name and source not in kept:
                    kept.add(source)
                    stack.append(source)
        return set(self.by_name) - kept

    def _hidden(self, pruned: set) -> set:
        hide = self.options.hide
        if not hide:
            return set()
        return {name for name in self.by_name
                if name not in pruned and any(_is_under(name, scope) for scope in hide)}

    def _folded(self, gone: set) -> dict:
        if self.options.show_training_noise:
            return {}
        noise = {name: group for name, group in training_noise(self.graph_def).items() if name not in gone}
        # Expanding a scope made only of noise (say `gradients`) asks to see it: unfold it.
        for scope in self.options.expand:
            under = [name for name in self.by_name if _is_under(name, scope) and name not in gone]
            if under and all(name in noise for name in under):
                for name in under:
                    del noise[name]
        return noise

    # -- the scope tree of the drawn ops ---------------------------------
    def _scope_tree(self, active: list, weight: Mapping[str, int]):
        scopes = scope_paths(active)
        home = {name: name if name in scopes else _parent(name) for name in active}
        op_count = collections.Counter()
        direct_ops = collections.Counter()
        for name, scope in home.items():
            direct_ops[scope] += 1
            ops = weight.get(name, 1)
            while scope:
                op_count[scope] += ops
                scope = _parent(scope)
        children = collections.defaultdict(list)
        for scope in scopes:
            children[_parent(scope)].append(scope)
        # A scope's own items when expanded: its ops plus one box per child scope.
        items = {scope: direct_ops[scope] + len(children[scope]) for scope in scopes | {""}}
        return scopes, home, op_count, children, items

    def _expanded(self, scopes: set, op_count, children, items, extra_boxes: int) -> set:
        forced = set()
        for scope in self.options.expand:
            while scope:
                if scope in scopes:
                    forced.add(scope)
                scope = _parent(scope)
        if self.options.depth is not None:
            return {scope for scope in scopes
                    if _level(scope) <= self.options.depth and scope not in self.block_scopes} | forced
        expanded = set(forced)
        boxes = extra_boxes + items[""] + sum(items[scope] - 1 for scope in forced)

        def openable(scope):
            # A scope named after its head op (`dense/kernel` with its reads) reads best as that op;
            # a function call's scope holds the function's body, which is what the reader is after.
            # A scope that is one fold-rule block (a dense layer) reads best as that block.
            return (op_count[scope] >= 2 and (scope not in self.by_name or scope in self.frames)
                    and scope not in self.block_scopes)

        def entries(parents):
            # Breadth first, and within a level the scopes that cost the fewest new boxes: the
            # model's small layers open before a sprawling input pipeline or optimizer update.
            # The members of a series, and the same scope in each member, open together.
            groups = collections.defaultdict(list)
            for parent in parents:
                for kid in children[parent]:
                    if kid not in expanded and openable(kid):
                        groups[_series_pattern(kid)].append(kid)
            return [(_level(group[0]), sum(items[kid] - 1 for kid in group), group[0], tuple(group))
                    for group in groups.values()]

        frontier = entries([""]) + entries(forced)
        heapq.heapify(frontier)
        while frontier:
            _, grown, _, group = heapq.heappop(frontier)
            if boxes + grown > self.options.max_boxes or any(scope in expanded for scope in group):
                continue
            expanded.update(group)
            boxes += grown
            for entry in entries(group):
                heapq.heappush(frontier, entry)
        return expanded

    # -- the drawing -----------------------------------------------------
    def view(self) -> GraphView:
        pruned = self._pruned()
        hidden = self._hidden(pruned)
        folded = self._folded(pruned | hidden)
        gone = pruned | hidden
        active = [node.name for node in self.nodes if node.name not in gone and node.name not in folded]
        self.blocks = fold_blocks(self.by_name, active, self.options.fold_rules, sorted(self.v1_loops))
        if self.options.expand:  # a scope the reader asked to open shows its ops, not a block
            self.blocks = {name: block for name, block in self.blocks.items()
                           if not any(_is_under(member, scope) and member != scope
                                      for member in block.members for scope in self.options.expand)}
        absorbed = {member for block in self.blocks.values() for member in block.members
                    if member != block.representative}
        if absorbed:
            active = [name for name in active if name not in absorbed]
        weight = {name: len(block.members) for name, block in self.blocks.items()}
        scopes, home, op_count, children, items = self._scope_tree(active, weight)
        self.block_scopes = {scope for scope in scopes if items[scope] == 1 and not children[scope]
                             and op_count[scope] > 1 and any(home[name] == scope for name in self.blocks)}
        groups = collections.Counter(folded.values())
        ports = self._port_count(gone)
        expanded = self._expanded(scopes, op_count, children, items, len(groups) + ports)

        box_of = {}  # op name -> box id
        collapsed_members = collections.defaultdict(list)
        visible = []
        for name in active:
            members = self.blocks[name].members if name in self.blocks else (name,)
            collapsed_at = self._collapsed_ancestor(home[name], expanded)
            if collapsed_at is None or (op_count[collapsed_at] == len(members)
                                        and collapsed_at not in self.block_scopes):
                visible.append(name)
                box_of.update((member, name) for member in members)
            else:
                collapsed_members[collapsed_at].extend(members)
                box_of.update((member, collapsed_at) for member in members)
        for name, group in folded.items():
            box_of[name] = FOLDED_PREFIX + group

        boxes = [self._op_box(name, home, expanded) for name in visible]
        boxes += [self._scope_box(scope, members) for scope, members in collapsed_members.items()]
        boxes += [self._folded_box(group, [n for n, g in folded.items() if g == group]) for group in groups]
        port_boxes, port_edges = self._ports(box_of)
        boxes += port_boxes
        edges, stubs = _stubbed(self._edges(box_of, boxes), boxes)
        boxes += stubs
        edges += port_edges
        clusters = self._clusters(boxes, expanded, op_count)
        if groups:
            clusters.append(Cluster(TRAINING_CLUSTER, "", "training machinery", len(folded)))
        in_blocks = sum(len(self.blocks[name].members) for name in visible if name in self.blocks)
        accounting = OpAccounting(
            total=len(self.nodes), visible=len(visible) - sum(name in self.blocks for name in visible),
            collapsed=sum(map(len, collapsed_members.values())) + in_blocks,
            folded=len(folded), hidden=len(hidden), pruned=len(pruned))
        depth = self.options.depth
        if depth is None:
            depth = max(map(_level, expanded), default=0)
        return GraphView(tuple(boxes), tuple(edges), tuple(clusters), accounting,
                         tuple(sorted(expanded)), depth, box_of)

    @staticmethod
    def _collapsed_ancestor(scope: str, expanded: set) -> Optional[str]:
        """The outermost collapsed scope on the way down to `scope`, or None when all are expanded."""
        if not scope:
            return None
        index = scope.find("/")
        while index != -1:
            if scope[:index] not in expanded:
                return scope[:index]
            index = scope.find("/", index + 1)
        return None if scope in expanded else scope

    def _port_count(self, gone: set) -> int:
        tensors = list(self.inputs.values()) + list(self.outputs.values())
        return sum(1 for spec in tensors if spec.op_name in self.by_name and spec.op_name not in gone)

    def _op_box(self, name: str, home: dict, expanded: set) -> Box:
        node = self.by_name[name]
        cluster = home[name] if home[name] in expanded else _parent(home[name])
        while cluster and cluster not in expanded:  # a one-op collapsed scope: draw the op in its parent
            cluster = _parent(cluster)
        if name in self.blocks:
            return self._block_box(self.blocks[name], self.blocks[name].label, cluster, name)
        kind = box_kind(node.op)
        return Box(name, kind, name.rsplit("/", 1)[-1], cluster, 1, node.op,
                   self._variable_detail(node) if kind == VARIABLE else "", self._op_tooltip(node))

    @staticmethod
    def _variable_detail(node) -> str:
        parts = [tensor_facts.format_attr(node.attr[key]) for key in ("shape", "dtype") if key in node.attr]
        return " ".join(part for part in parts if part)

    @staticmethod
    def _op_tooltip(node) -> tuple:
        lines = [node.name, f"op: {node.op}", f"device: {node.device or '(unplaced)'}"]
        lines += [f"{key}: {value}" for key, value in tensor_facts.key_attrs(node)]
        return tuple(lines)

    def _block_box(self, block, label: str, cluster: str, box_id: str) -> Box:
        """One box for a fold-rule block: its label, the chain, the variables it took in."""
        variables = [self.by_name[name] for name in block.members if self.by_name[name].op in VARIABLE_OPS]
        detail = " · ".join(f"{node.name.rsplit('/', 1)[-1]} {self._variable_detail(node)}".strip()
                            for node in variables[:3])
        types = collections.Counter(self.by_name[name].op for name in block.members)
        tooltip = (box_id, f"{block.label}: {' > '.join(block.chain)} (fold rule)",
                   f"{len(block.members)} ops", _type_summary(types))
        return Box(box_id, OP, label, cluster, len(block.members), " > ".join(block.chain), detail, tooltip)

    def _scope_box(self, scope: str, members: list) -> Box:
        if scope in self.block_scopes:
            [block] = [self.blocks[name] for name in members if name in self.blocks]
            box = self._block_box(block, scope.rsplit("/", 1)[-1], _parent(scope), scope)
            return dataclasses.replace(box, op_type=block.label)
        head = self.by_name.get(scope)
        types = collections.Counter(self.by_name[name].op for name in members)
        tooltip = (scope, f"{len(members)} ops (collapsed scope)", _type_summary(types))
        series = self.series.get(scope)
        if series is not None:
            names = [member.rsplit("/", 1)[-1] for member in series.members]
            shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
            tooltip = (scope, f"series of {len(names)}: {shown}", f"{len(members)} ops", _type_summary(types))
            return Box(scope, SCOPE, scope.rsplit("/", 1)[-1], _parent(scope), len(members), "", series.label,
                       tooltip)
        if head is None:
            return Box(scope, SCOPE, scope.rsplit("/", 1)[-1], _parent(scope), len(members), "", "", tooltip)
        # A scope headed by an op (a variable and its reads, a MatMul and its ReadVariableOp) looks like it.
        kind = box_kind(head.op)
        tooltip += self._op_tooltip(head)[1:]
        return Box(scope, kind, scope.rsplit("/", 1)[-1], _parent(scope), len(members), head.op,
                   self._variable_detail(head) if kind == VARIABLE else "", tooltip)

    def _folded_box(self, group: str, members: list) -> Box:
        types = collections.Counter(self.by_name[name].op for name in members)
        tooltip = (f"{group} (training machinery, folded)", f"{len(members)} ops", _type_summary(types))
        return Box(FOLDED_PREFIX + group, FOLDED, group, TRAINING_CLUSTER, len(members), "", "", tooltip)

    def _ports(self, box_of: dict):
        boxes, edges = [], []
        for kind, prefix, specs in ((INPUT_PORT, INPUT_PREFIX, self.inputs),
                                    (OUTPUT_PORT, OUTPUT_PREFIX, self.outputs)):
            for key, spec in specs.items():
                target = box_of.get(spec.op_name)
                if target is None:
                    continue
                port_id = prefix + key
                detail = self._spec_label(spec)
                boxes.append(Box(port_id, kind, key, "", 0, "", detail,
                                 (f"signature {kind} {key!r}", f"tensor: {spec.name}", detail)))
                if kind == INPUT_PORT:
                    edges.append(Edge(port_id, target, False, 1, ""))
                else:
                    edges.append(Edge(target, port_id, False, 1, detail))
        return boxes, edges

    def _spec_label(self, spec: TensorRecord) -> str:
        node = self.by_name[spec.op_name]
        index = output_index(spec.name)
        label = tensor_facts.tensor_label(node, index)
        if label:
            return label
        if spec.shape is None:
            shape = "?"
        else:
            shape = "[" + ",".join("?" if dim is None else str(dim) for dim in spec.shape) + "]"
        return f"{shape} {spec.dtype}".strip()

    def _edges(self, box_of: dict, boxes: list) -> list:
        """Op-to-op edges one by one; edges of collapsed or folded boxes merged per pair of boxes.

        A folded training-noise box touches most of the model (every variable, every
        activation its gradient needs); its edges are lifted to the top-level cluster
        at the other end, so that a detailed view keeps a few dozen such arrows, not
        thousands (which would also make Graphviz's crossing minimisation explode).
        """
        cluster_of = {box.id: box.cluster for box in boxes}
        folded = {box.id for box in boxes if box.kind == FOLDED}
        # The cluster's last box in graph order sits low in the cluster, near the training
        # machinery below it: short lifted arrows keep Graphviz's spline routing cheap.
        representative = {box.cluster.split("/", 1)[0]: box.id for box in boxes if box.cluster}

        def lift(box_id):
            cluster = cluster_of[box_id]
            if not cluster or box_id in folded:
                return box_id, ""
            top = cluster.split("/", 1)[0]
            return representative[top], top

        single = {}     # (tail, head, control, tensor, input index): op-to-op edges stay apart
        merged = {}     # (tail, head, control, tail cluster, head cluster) -> [count, tensors]
        for node in self.nodes:
            head = box_of.get(node.name)
            if head is None:
                continue
            for index, tensor in enumerate(node.input):
                control = is_control(tensor)
                source = op_name(tensor)
                tail = box_of.get(source)
                if tail is None or tail == head:
                    continue
                if tail == source and head == node.name:
                    single[(tail, head, control, tensor, index)] = None
                    continue
                tail_cluster = head_cluster = ""
                if tail in folded or head in folded:
                    (tail, tail_cluster), (head, head_cluster) = lift(tail), lift(head)
                entry = merged.setdefault((tail, head, control, tail_cluster, head_cluster), [0, set()])
                entry[0] += 1
                entry[1].add(tensor)
        edges = [Edge(tail, head, control, 1, "" if control else self._tensor_label(tensor))
                 for tail, head, control, tensor, _ in single]
        for (tail, head, control, tail_cluster, head_cluster), (count, tensors) in merged.items():
            label = f"×{count}" if count > 1 else ""
            if not control and len(tensors) == 1:
                label = " ".join(part for part in (self._tensor_label(next(iter(tensors))), label) if part)
            edges.append(Edge(tail, head, control, count, label, tail_cluster, head_cluster))
        return edges

    def _tensor_label(self, tensor: str) -> str:
        index = output_index(tensor)
        label = tensor_facts.tensor_label(self.by_name[op_name(tensor)], index)
        return f":{index} {label}" if index else label

    def _clusters(self, boxes, expanded: set, op_count) -> list:
        used = set()
        for box in boxes:
            scope = box.cluster
            while scope and scope not in used:
                used.add(scope)
                scope = _parent(scope)
        ordered = sorted(used & expanded, key=lambda path: (_level(path), path))
        clusters = []
        for path in ordered:
            kind, name = self.frames.get(path, ("scope", path.rsplit("/", 1)[-1]))
            clusters.append(Cluster(path, _parent(path), name, op_count[path], kind))
        return clusters


def _stubbed(edges: list, boxes: list) -> tuple[list, list]:
    """Edges with the long ones replaced by stubs: (edges, stub boxes).

    An edge between the model and a folded training-machinery box ends at a small stub
    named after the group, beside the model's box; the folded boxes keep only the edges
    among themselves. A box with edges to AUXILIARY_FANOUT or more boxes (TensorBoard's
    "auxiliary node": a `training` flag, a learning rate) gets one stub beside each
    consumer instead of edges to all of them.
    """
    kind = {box.id: box.kind for box in boxes}
    cluster = {box.id: box.cluster for box in boxes}
    heads = collections.defaultdict(set)
    for edge in edges:
        if kind.get(edge.tail) not in (FOLDED, INPUT_PORT, OUTPUT_PORT) and kind.get(edge.head) != FOLDED:
            heads[edge.tail].add(edge.head)
    auxiliary = {tail for tail, targets in heads.items() if len(targets) >= AUXILIARY_FANOUT}
    kept, stubs = [], {}

    def stub(source: str, beside: str, where: str, lines: tuple) -> str:
        stub_id = f"{STUB_PREFIX}{source} ~ {beside}"
        if stub_id not in stubs:
            name = source[len(FOLDED_PREFIX):] if kind[source] == FOLDED else source.rsplit("/", 1)[-1]
            stubs[stub_id] = Box(stub_id, STUB, name, where, 0, "", "", lines)
        return stub_id

    for edge in edges:
        tail_folded, head_folded = kind.get(edge.tail) == FOLDED, kind.get(edge.head) == FOLDED
        if tail_folded != head_folded:
            group, other = (edge.tail, edge.head) if tail_folded else (edge.head, edge.tail)
            # Lifted to a top-level cluster: the stub sits beside that cluster, at the top level.
            lifted = edge.head_cluster if tail_folded else edge.tail_cluster
            where = "" if lifted else cluster[other]
            beside = lifted or other
            stub_id = stub(group, beside, where, (f"{group[len(FOLDED_PREFIX):]} (folded training machinery)",
                                                  f"{'to' if tail_folded else 'from'} {beside}"))
            if tail_folded:
                kept.append(dataclasses.replace(edge, tail=stub_id, tail_cluster=""))
            else:
                kept.append(dataclasses.replace(edge, head=stub_id, head_cluster=""))
        elif edge.tail in auxiliary and not edge.head_cluster:
            stub_id = stub(edge.tail, edge.head, cluster[edge.head],
                           (edge.tail, f"feeds {len(heads[edge.tail])} boxes; drawn beside each"))
            kept.append(dataclasses.replace(edge, tail=stub_id, tail_cluster=""))
        else:
            kept.append(edge)
    return kept, list(stubs.values())


def _natural_order(name: str) -> tuple:
    match = re.search(r"(\d+)$", name)
    return (name[:match.start()] if match else name, int(match.group(1)) if match else -1)


def _type_summary(types: collections.Counter) -> str:
    common = types.most_common(_TOOLTIP_OP_TYPES)
    text = ", ".join(f"{op} ×{count}" for op, count in common)
    return text + (", ..." if len(types) > len(common) else "")
