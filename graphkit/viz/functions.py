"""Function bodies drawn inside their call: a GraphDef with every call's FunctionDef inlined by name.

TF2 graphs (a Keras model saved with `tf.saved_model.save`, a `tf.function`
imported into a graph) keep their layers in the GraphDef's `library`: the
graph itself holds one `StatefulPartitionedCall`. `inline_bodies` copies each
called function's nodes under the call's name (`StatefulPartitionedCall/dense/
MatMul`), so the walk sees the body as the call's scope and draws it as a
cluster; the call op stays as the scope's head and takes the body's results as
its inputs, so its consumers still read from it. Functional control flow gets
one sub-scope per function: `If` -> `then`, `else`; `While` -> `cond`, `body`.

This is a drawing aid, not an executable graph: a body's `node:out_arg:i`
becomes output i of the node (exact for ops with one output arg, the usual
case), and attrs are copied as they are.

    drawn = inline_bodies(graph_def)
    call_kind(node)   # "function", "branch", "loop" or "" (not a call)
"""

from __future__ import annotations

from typing import Optional

from tensorflow.core.framework import graph_pb2

CALL_OPS = frozenset({"PartitionedCall", "StatefulPartitionedCall", "TPUPartitionedCall"})
BRANCH_OPS = frozenset({"If", "StatelessIf", "_If"})
LOOP_OPS = frozenset({"While", "StatelessWhile", "_While"})
# attr name -> sub-scope the body is drawn in; "" draws it in the call's own scope.
_BODY_ATTRS = {"call": (("f", ""),), "branch": (("then_branch", "then"), ("else_branch", "else")),
               "loop": (("cond", "cond"), ("body", "body"))}
MAX_NESTING = 12


def call_kind(node, library: Optional[dict] = None) -> str:
    """"function", "branch" or "loop" for an op that runs a library function, else ""."""
    if node.op in CALL_OPS:
        return "function"
    if node.op in BRANCH_OPS:
        return "branch"
    if node.op in LOOP_OPS:
        return "loop"
    if library is not None and node.op in library:
        return "function"
    return ""


def function_names(node) -> tuple:
    """The names of the library functions an op calls (its `f`, branches or cond/body), in order."""
    names = []
    for attrs in _BODY_ATTRS.values():
        for attr, _ in attrs:
            if attr in node.attr and node.attr[attr].func.name:
                names.append(node.attr[attr].func.name)
    return tuple(names)


def inline_bodies(graph_def: graph_pb2.GraphDef) -> graph_pb2.GraphDef:
    """`graph_def` with the body of every call, branch and loop op copied under the op's name.

    Args:
      graph_def: any GraphDef; one without a function library comes back as it is.
    Returns:
      a GraphDef to draw (the input when nothing was inlined).
    """
    library = {function.signature.name: function for function in graph_def.library.function}
    if not library or not any(call_kind(node, library) for node in graph_def.node):
        return graph_def
    drawn = graph_pb2.GraphDef()
    drawn.versions.CopyFrom(graph_def.versions)
    _inline_into(drawn, graph_def.node, "", {}, library, ())
    return drawn


def _inline_into(drawn, nodes, prefix: str, arguments: dict, library: dict, stack: tuple) -> None:
    """Copies `nodes` (a graph's or a function body's) into `drawn` under `prefix`, inlining calls.

    `arguments` maps a function's input arg name to the outer tensor it stands for.
    """
    for node in nodes:
        copy = drawn.node.add()
        copy.CopyFrom(node)
        copy.name = prefix + node.name
        copy.input[:] = [_outer(tensor, prefix, arguments) for tensor in node.input]
        kind = call_kind(node, library)
        if not kind or len(stack) >= MAX_NESTING:
            continue
        data_inputs = [tensor for tensor in copy.input if not tensor.startswith("^")]
        controls = [tensor for tensor in copy.input if tensor.startswith("^")]
        if kind == "branch":
            data_inputs = data_inputs[1:]  # input 0 is the condition
        results, used = [], set()
        bodies = _BODY_ATTRS["call" if kind == "function" else kind]
        if node.op in library:
            bodies = (("", ""),)
        for attr, scope in bodies:
            name = node.op if not attr else node.attr[attr].func.name
            function = library.get(name)
            if function is None or name in stack:
                continue
            args = {arg.name: tensor for arg, tensor in zip(function.signature.input_arg, data_inputs)}
            inner = f"{copy.name}/{scope}/" if scope else f"{copy.name}/"
            _inline_into(drawn, function.node_def, inner, args, library, stack + (name,))
            used.update(_consumed(function, args))
            for arg in function.signature.output_arg:
                if arg.name in function.ret:
                    results.append(_outer(function.ret[arg.name], inner, args))
        if results:
            # The call reads the body's results; inputs no body op reads still feed it directly.
            unread = [tensor for tensor in data_inputs if tensor not in used]
            copy.input[:] = results + unread + controls


def _consumed(function, args: dict) -> set:
    reads = set()
    for node in function.node_def:
        for tensor in node.input:
            name = tensor.lstrip("^").split(":", 1)[0]
            if name in args:
                reads.add(args[name])
    for tensor in function.ret.values():
        name = tensor.split(":", 1)[0]
        if name in args:
            reads.add(args[name])
    return reads


def _outer(tensor: str, prefix: str, arguments: dict) -> str:
    """A body's tensor reference (`arg`, `node:out_arg:i`, `^node`) as a name in the drawn graph."""
    control = tensor.startswith("^")
    name = tensor[1:] if control else tensor
    parts = name.split(":")
    if not prefix:
        return tensor
    if len(parts) == 1 and name in arguments:
        outer = arguments[name]
        if control:
            return "^" + outer.lstrip("^").split(":", 1)[0]
        return outer
    if len(parts) == 3:
        index = int(parts[2])
        return f"{prefix}{parts[0]}:{index}" if index else prefix + parts[0]
    if len(parts) == 2 and parts[1].isdigit():
        return ("^" if control else "") + f"{prefix}{parts[0]}:{parts[1]}"
    return ("^" if control else "") + prefix + parts[0]
