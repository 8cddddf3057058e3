"""Finds the training machinery in a GraphDef: what a reader folds away first.

`minimize()`, `Saver()` and `global_variables_initializer()` add more ops than
the model itself. `training_noise(graph_def)` names, for each such op, the group
it belongs to, so that a drawing can fold each group into one box:

- gradients: everything under a `gradients` / `gradients_N` name scope;
- optimizer: the optimizer's own variables (Adam's m and v, beta powers), found
  as variables that feed an `Apply*` op after its first input, with their
  initializers and reads; and its update ops: the `Apply*` ops and everything
  in the `minimize()` name scope that holds their `update_*` scopes (the op
  named like that scope, the train op itself, stays in the model);
- initializers: `Initializer` scopes, each variable's `Assign` and
  `IsInitialized` ops, and `init` / `report_uninitialized_variables`;
- save/restore: a `save` / `save_N` scope that holds a SaveV2/RestoreV2 op, and
  the calls of a TF2 SavedModel's `_traced_save` / `_traced_restore` functions.

Pure protos: names and op types only.
"""

from __future__ import annotations

import re

from tensorflow.core.framework import graph_pb2

from graphkit.graphs.names import VARIABLE_OPS, is_control, op_name

GRADIENTS = "gradients"
OPTIMIZER = "optimizer"
INITIALIZERS = "initializers"
SAVE_RESTORE = "save/restore"
GROUPS = (GRADIENTS, OPTIMIZER, INITIALIZERS, SAVE_RESTORE)

_PASS_THROUGH_OPS = frozenset({"ReadVariableOp", "Identity"})
_ASSIGN_OPS = frozenset({"Assign", "AssignVariableOp"})
_CHECKPOINT_OPS = frozenset({"SaveV2", "RestoreV2", "Save", "SaveSlices", "Restore", "RestoreSlice",
                             "MergeV2Checkpoints"})
_APPLY_OP = re.compile(r"^(Resource)?(Sparse)?Apply[A-Z]")
_GRADIENTS_SCOPE = re.compile(r"(?:^|/)gradients(?:_\d+)?/")  # a scope named so, at any level
_SAVE_SCOPE = re.compile(r"^save(_\d+)?$")
# tf.saved_model.save writes its checkpoint ops as the functions __inference__traced_save_N / _restore_N.
_SAVER_FUNCTION = re.compile(r"_traced_(save|restore)(_\d+)?$")
_INIT_OP = re.compile(r"^init(_\d+)?$")
_INIT_SCOPE = re.compile(r"(?:^|/)(?:Initializer|report_uninitialized_variables)/")


def training_noise(graph_def: graph_pb2.GraphDef) -> dict[str, str]:
    """Maps the name of every training-machinery op to its group (one of GROUPS).

    Args:
      graph_def: any GraphDef; an inference graph yields an empty dict.
    Returns:
      op name -> group; ops not listed are the model itself.
    """
    nodes = {node.name: node for node in graph_def.node}
    slot_names = frozenset(_slot_variables(nodes))
    update_scopes = _update_scopes(graph_def)
    saver_calls = frozenset(node.name for node in graph_def.node
                            if "f" in node.attr and _SAVER_FUNCTION.search(node.attr["f"].func.name))
    save_scopes = _save_scopes(graph_def) | saver_calls
    groups = {}
    for node in graph_def.node:
        name = node.name
        if _GRADIENTS_SCOPE.search(name):
            groups[name] = GRADIENTS
        elif name in saver_calls or _under(name, save_scopes):
            groups[name] = SAVE_RESTORE
        elif (name in slot_names or _under(name, slot_names) or _under(name, update_scopes)
              or _APPLY_OP.match(node.op)):
            groups[name] = OPTIMIZER
        elif _is_initializer(node, nodes):
            groups[name] = INITIALIZERS
    return groups


def _under(name: str, scopes: frozenset) -> bool:
    """Whether `name` lies below one of `scopes` (a set lookup per level, whatever the set's size)."""
    if not scopes:
        return False
    index = name.rfind("/")
    while index > 0:
        if name[:index] in scopes:
            return True
        index = name.rfind("/", 0, index)
    return False


def _save_scopes(graph_def: graph_pb2.GraphDef) -> frozenset:
    """Scopes named save / save_N that hold a checkpoint op."""
    scopes = set()
    for node in graph_def.node:
        if node.op in _CHECKPOINT_OPS:
            parts = node.name.split("/")
            for i in range(1, len(parts)):
                if _SAVE_SCOPE.match(parts[i - 1]):
                    scopes.add("/".join(parts[:i]))
                    break
    return frozenset(scopes)


def _update_scopes(graph_def: graph_pb2.GraphDef) -> frozenset:
    """Name scopes of `minimize()` / `apply_gradients()`: the parent of an Apply* op's `update_*` scope."""
    scopes = set()
    for node in graph_def.node:
        if _APPLY_OP.match(node.op):
            parts = node.name.split("/")
            for i, part in enumerate(parts[:-1]):
                if part.startswith("update_"):
                    if i > 0:
                        scopes.add("/".join(parts[:i]))
                    break
    return frozenset(scopes)


def _slot_variables(nodes: dict) -> set:
    """Variables that an Apply* op takes after its first input (the variable it updates)."""
    slots = set()
    for node in nodes.values():
        if not _APPLY_OP.match(node.op):
            continue
        for tensor in node.input[1:]:
            if is_control(tensor):
                continue
            source = nodes.get(op_name(tensor))
            if source is not None and source.op in _PASS_THROUGH_OPS and source.input:
                source = nodes.get(op_name(source.input[0]))
            if source is not None and source.op in VARIABLE_OPS:
                slots.add(source.name)
    return slots


def _is_initializer(node, nodes: dict) -> bool:
    name = node.name
    if _INIT_SCOPE.search(name):
        return True
    if "/" not in name:
        return node.op == "NoOp" and bool(_INIT_OP.match(name)) and bool(node.input) and all(
            is_control(tensor) for tensor in node.input)
    scope, _, last = name.rpartition("/")
    if last == "Assign" and node.op in _ASSIGN_OPS:
        variable = nodes.get(scope)
        return variable is not None and variable.op in VARIABLE_OPS
    return name.endswith("/IsInitialized/VarIsInitializedOp")
