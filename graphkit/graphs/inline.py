"""Function calls of a GraphDef replaced by their bodies, for analysis (no session).

A TF2 SavedModel (Keras `model.export`, `tf.saved_model.save`) keeps its
model in the GraphDef's function library: the graph itself holds a
placeholder, the variable handles and one `StatefulPartitionedCall`. Counting
ops there says nothing about the model. Grappler inlines such calls before a
session runs them; `inline_function_calls` does the same at the level that
dependency analysis needs:

    inlined = inline_function_calls(graph_def)
    report = work_span(inlined.graph_def, fetches, feeds, graph_form=inlined.describe(GRAPH_AS_WRITTEN))

Each call op `call` of function `f` becomes f's body with its nodes named
`call/<node>`; a body node reading the function's argument `a` reads the call's
input for `a` instead; and `call` itself stays as an `IdentityN` join over the
nodes that produce f's results, so that the call's readers keep their inputs.
Nested calls are inlined too. The result is a graph of dependencies, for
`graphkit.graphs.work_span` and drawing; it is not meant to be imported and
run. Functional control flow (`If`, `While`, `Case`) is left as one op each:
how many iterations a loop makes is not in the graph (`grappler_optimized`
lowers them to Switch/Merge form instead).
"""

from __future__ import annotations

import dataclasses

from graphkit.graphs.names import is_control, op_name

# Ops that call the function named by their "f" attr; a node whose op is a library function calls it too.
CALL_OPS = frozenset({"PartitionedCall", "StatefulPartitionedCall"})
# Functional control flow: their functions run a data-dependent number of times (or one of several).
CONTROL_FLOW_OPS = frozenset({"If", "StatelessIf", "While", "StatelessWhile", "Case", "StatelessCase"})
MAX_NESTING = 32  # deeper means a recursive function: left as a call


@dataclasses.dataclass(frozen=True)
class InlinedGraph:
    """A GraphDef whose function calls were replaced by their bodies.

    Attributes:
      graph_def: the inlined GraphDef (a dependency graph; see the module docstring).
      calls: how many call ops were inlined (nested ones included).
      body_ops: how many ops the function bodies added.
      control_flow_ops: names of functional If/While/Case ops left as single ops.
    """

    graph_def: object
    calls: int
    body_ops: int
    control_flow_ops: tuple[str, ...]

    def describe(self, graph_form: str) -> str:
        """`graph_form` with what inlining did, for a report's "graph:" line."""
        if not self.calls and not self.control_flow_ops:
            return graph_form
        text = f"{graph_form}, {self.calls} function call(s) inlined (+{self.body_ops} ops from their bodies)"
        if self.control_flow_ops:
            text += (f", {len(self.control_flow_ops)} functional control-flow op(s) (If/While) "
                     f"counted as one op each")
        return text


def has_function_calls(graph_def) -> bool:
    """Whether any node of `graph_def` calls a library function (see CALL_OPS)."""
    functions = {function.signature.name for function in graph_def.library.function}
    return any(_called_function(node, functions) for node in graph_def.node)


def inline_function_calls(graph_def) -> InlinedGraph:
    """The GraphDef with every function call replaced by the function's body (recursively).

    Args:
      graph_def: a GraphDef, with its function library.
    Returns:
      an InlinedGraph; `graph_def` itself is not changed.
    """
    library = {function.signature.name: function for function in graph_def.library.function}
    inlined = type(graph_def)()
    inlined.versions.CopyFrom(graph_def.versions)
    inlined.library.CopyFrom(graph_def.library)
    pending = [(node, 0) for node in graph_def.node]
    calls = body_ops = 0
    control_flow = []
    while pending:
        node, nesting = pending.pop(0)
        function_name = _called_function(node, library)
        if function_name is None or nesting >= MAX_NESTING:
            inlined.node.add().CopyFrom(node)
            if node.op in CONTROL_FLOW_OPS:
                control_flow.append(node.name)
            continue
        body, join = _expand(node, library[function_name])
        calls += 1
        body_ops += len(body)
        inlined.node.add().CopyFrom(join)
        pending[:0] = [(body_node, nesting + 1) for body_node in body]
    return InlinedGraph(inlined, calls, body_ops, tuple(control_flow))


def _called_function(node, functions) -> str | None:
    if node.op in CALL_OPS and "f" in node.attr:
        name = node.attr["f"].func.name
        return name if name in functions else None
    return node.op if node.op in functions else None


def _expand(call, function):
    """(body nodes named `call/<node>`, the IdentityN join named `call`) of one call."""
    from tensorflow.core.framework import node_def_pb2

    prefix = call.name
    data_inputs = [raw for raw in call.input if not is_control(raw)]
    control_inputs = [raw for raw in call.input if is_control(raw)]
    arguments = {arg.name: data_inputs[index] if index < len(data_inputs) else None
                 for index, arg in enumerate(function.signature.input_arg)}

    def rename(raw: str) -> str | None:
        name = op_name(raw)
        if name in arguments:  # the call's input for that argument (None: the call lacks it)
            source = arguments[name]
            return None if source is None else (f"^{op_name(source)}" if is_control(raw) else source)
        return f"^{prefix}/{raw[1:]}" if is_control(raw) else f"{prefix}/{raw}"

    body = []
    for node in function.node_def:
        copy = node_def_pb2.NodeDef()
        copy.CopyFrom(node)
        copy.name = f"{prefix}/{node.name}"
        renamed = [rename(raw) for raw in node.input]
        del copy.input[:]
        copy.input.extend(raw for raw in renamed if raw is not None)
        if not copy.input:  # a constant of the body starts when the call does, not before
            copy.input.extend(control_inputs)
        if call.device and not copy.device:
            copy.device = call.device
        body.append(copy)
    join = node_def_pb2.NodeDef(name=prefix, op="IdentityN", device=call.device)
    results = [rename(function.ret[arg.name]) for arg in function.signature.output_arg
               if arg.name in function.ret]
    results += [f"^{prefix}/{function.control_ret[name]}" for name in sorted(function.control_ret)]
    if not results:  # a function without results: the call is over when every body op is
        results = [f"^{node.name}" for node in body] or control_inputs
    seen = set()
    for raw in results:
        if raw is not None and op_name(raw) not in seen:
            seen.add(op_name(raw))
            join.input.append(raw)
    return body, join
