"""Names in GraphDefs: what an input string or tensor name refers to.

A NodeDef input reads `op` (output 0), `op:1` (output 1) or `^op` (a control
input); a tensor name reads `op:0`. Inside a FunctionDef body an input reads
`op:output_arg:index`. Every module that splits such a string uses these.

    op_name("^scope/op")     -> "scope/op"
    output_index("op:1")     -> 1
    is_control("^op")        -> True
"""

from __future__ import annotations

import re

_NUMBER = re.compile(r"(\d+)")

# Ops that hold a variable: tf.compat.v1 reference variables and resource variables.
VARIABLE_OPS = frozenset({"VarHandleOp", "VariableV2", "Variable", "AutoReloadVariable"})


def op_name(name: str) -> str:
    """The op an input string or tensor name refers to: "^scope/op", "scope/op:1" -> "scope/op"."""
    return name.lstrip("^").split(":", 1)[0]


def output_index(name: str) -> int:
    """The output an input string or tensor name refers to: "op" -> 0, "op:1" -> 1, "op:out:2" -> 2."""
    if name.startswith("^"):
        return -1
    parts = name.split(":")
    return int(parts[-1]) if len(parts) > 1 else 0


def is_control(name: str) -> bool:
    """Whether a NodeDef input string is a control input (`^op`)."""
    return name.startswith("^")


def variable_initializers(graph_def) -> list[str]:
    """Names of the ops `<variable>/Assign` that tf.compat.v1 variables are initialised by."""
    variables = {node.name for node in graph_def.node if node.op in VARIABLE_OPS}
    return [node.name for node in graph_def.node
            if node.op in ("AssignVariableOp", "Assign") and node.input
            and node.input[0] in variables and node.name == f"{node.input[0]}/Assign"]


def natural_key(text: str) -> tuple:
    """Sort key for numbered names: "cluster_2" before "cluster_10", "CPU:2" before "CPU:10"."""
    return tuple(int(part) if part.isdigit() else part for part in _NUMBER.split(text))
