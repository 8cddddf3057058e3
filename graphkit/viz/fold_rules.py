"""Fold rules: common op chains drawn as one labelled block (`MatMul > BiasAdd > Relu` as `dense (relu)`).

A rule names a chain of op types, upstream first. A chain matches when each op
feeds the next and is read by nothing else, all in one name scope. The block
then takes in the ops that only feed it from inside that scope (a dense
layer's kernel and its read, dropout's random mask arithmetic), so the reader
sees one box per layer. The loop plumbing of a v1 `while_loop` (Enter, Merge,
Switch, NextIteration, LoopCond, Exit) folds the same way into one
`loop control` block per loop frame.

    rules = DEFAULT_FOLD_RULES + (FoldRule.parse("gelu=Mul>Erf>AddV2>Mul"),)
    blocks = fold_blocks(nodes, active, rules)     # representative op -> Block
"""

from __future__ import annotations

import collections
import dataclasses
import re
from typing import Iterable, Mapping, Sequence

from graphkit.errors import RenderError
from graphkit.graphs.names import is_control, op_name

_ACTIVATIONS = (("Relu", "relu"), ("Relu6", "relu6"), ("Tanh", "tanh"), ("Sigmoid", "sigmoid"),
                ("Elu", "elu"), ("Selu", "selu"), ("Softplus", "softplus"), ("LeakyRelu", "leaky relu"))
LOOP_CONTROL_OPS = frozenset({"Enter", "RefEnter", "Merge", "RefMerge", "Switch", "RefSwitch",
                              "NextIteration", "RefNextIteration", "LoopCond", "Exit", "RefExit"})
_NEVER_ABSORBED = frozenset({"Placeholder", "PlaceholderWithDefault", "PlaceholderV2"})
_RULE_TEXT = re.compile(r"^\s*([^=]+?)\s*=\s*([A-Za-z0-9_]+(?:\s*>\s*[A-Za-z0-9_]+)*)\s*$")


@dataclasses.dataclass(frozen=True)
class FoldRule:
    """A chain of op types (upstream first) drawn as one block labelled `label`."""

    label: str
    chain: tuple

    def __post_init__(self):
        if not self.label or not self.chain or not all(isinstance(op, str) and op for op in self.chain):
            raise RenderError(f"fold rule: expected a label and op types, got {self.label!r}: {self.chain!r}")
        object.__setattr__(self, "chain", tuple(self.chain))

    @classmethod
    def parse(cls, text: str) -> "FoldRule":
        """`"dense (relu)=MatMul>BiasAdd>Relu"` as a FoldRule.

        Raises:
          RenderError: the text is not LABEL=OpType>OpType>...
        """
        match = _RULE_TEXT.match(text)
        if match is None:
            raise RenderError(f"fold rule: expected LABEL=OpType>OpType (e.g. 'dense=MatMul>BiasAdd'), "
                              f"got {text!r}")
        return cls(match.group(1), tuple(op.strip() for op in match.group(2).split(">")))


DEFAULT_FOLD_RULES = (
    tuple(FoldRule(f"dense ({name})", ("MatMul", "BiasAdd", op)) for op, name in _ACTIVATIONS)
    + tuple(FoldRule(f"conv2d ({name})", ("Conv2D", "BiasAdd", op)) for op, name in _ACTIVATIONS)
    + (FoldRule("dense", ("MatMul", "BiasAdd")), FoldRule("conv2d", ("Conv2D", "BiasAdd")),
       # graphkit.nn.layers.dropout; TensorFlow's tf.nn.dropout (v2 and the older Cast form).
       FoldRule("dropout", ("GreaterEqual", "SelectV2", "Mul")),
       FoldRule("dropout", ("GreaterEqual", "SelectV2")),
       FoldRule("dropout", ("GreaterEqual", "Cast", "Mul")))
)


@dataclasses.dataclass(frozen=True)
class Block:
    """Ops drawn as one box: the representative (the chain's last op) and every member, in graph order."""

    label: str
    chain: tuple
    representative: str
    members: tuple


def check_rules(rules) -> tuple:
    """Rules as a tuple of FoldRule; strings are parsed with FoldRule.parse.

    Raises:
      RenderError: an entry is neither a FoldRule nor LABEL=OpType>... text.
    """
    if rules is None:
        return DEFAULT_FOLD_RULES
    if isinstance(rules, (str, FoldRule)):
        rules = (rules,)
    checked = []
    for rule in rules:
        if isinstance(rule, str):
            rule = FoldRule.parse(rule)
        if not isinstance(rule, FoldRule):
            raise RenderError(f"fold rule: expected a FoldRule or 'LABEL=OpType>OpType', got {rule!r}")
        checked.append(rule)
    return tuple(checked)


def fold_blocks(nodes: Mapping[str, object], active: Sequence[str], rules: Iterable[FoldRule],
                loop_scopes: Iterable[str] = ()) -> dict:
    """The blocks of the drawn ops.

    Args:
      nodes: op name -> NodeDef (the whole graph).
      active: names of the ops being drawn, in graph order (folded, hidden and pruned ops left out).
      rules: tried in order; an op joins at most one block.
      loop_scopes: v1 while_loop frames whose control ops fold into a `loop control` block.
    Returns:
      representative op name -> Block.
    """
    drawn = set(active)
    order = {name: i for i, name in enumerate(active)}
    readers = collections.defaultdict(list)   # op -> drawn ops reading its outputs
    for name in active:
        for tensor in nodes[name].input:
            if not is_control(tensor):
                source = op_name(tensor)
                if source in drawn:
                    readers[source].append(name)
    taken, blocks = set(), {}
    by_type = collections.defaultdict(list)
    for name in active:
        by_type[nodes[name].op].append(name)
    for rule in rules:
        for end in by_type.get(rule.chain[-1], ()):
            if end in taken:
                continue
            chain = _match(end, rule.chain, nodes, drawn, readers, taken)
            if chain is None:
                continue
            members = _absorb(chain, nodes, drawn, readers, taken)
            taken.update(members)
            blocks[end] = Block(rule.label, rule.chain, end, tuple(sorted(members, key=order.get)))
    for scope in loop_scopes:
        members = [name for name in active if name not in taken and nodes[name].op in LOOP_CONTROL_OPS
                   and name.rpartition("/")[0] == scope]
        if len(members) > 1:
            head = next((name for name in members if nodes[name].op == "LoopCond"), members[-1])
            taken.update(members)
            blocks[head] = Block("loop control", ("Enter", "Merge", "Switch", "NextIteration", "Exit"),
                                 head, tuple(members))
    return blocks


def _parent(name: str) -> str:
    return name.rpartition("/")[0]


def _match(end: str, chain: tuple, nodes, drawn: set, readers, taken: set):
    """The ops of `chain` ending at `end` (upstream first), or None."""
    scope = _parent(end)
    matched, current = [end], end
    for op_type in reversed(chain[:-1]):
        found = None
        for tensor in nodes[current].input:
            if is_control(tensor):
                continue
            source = op_name(tensor)
            if (source in drawn and source not in taken and nodes[source].op == op_type
                    and _parent(source) == scope and set(readers[source]) == {current}):
                found = source
                break
        if found is None:
            return None
        matched.append(found)
        current = found
    return matched[::-1]


def _absorb(chain: list, nodes, drawn: set, readers, taken: set) -> set:
    """The chain plus every op of its scope that feeds only the block (its weights, its mask arithmetic)."""
    scope = _parent(chain[-1])
    prefix = scope + "/" if scope else ""
    members = set(chain)
    grown = True
    while grown:  # until no op joins: an op read by two members joins once both have
        grown = False
        for member in list(members):
            for tensor in nodes[member].input:
                source = op_name(tensor)
                if (source in members or source not in drawn or source in taken
                        or nodes[source].op in _NEVER_ABSORBED):
                    continue
                inside = source.startswith(prefix) if prefix else nodes[source].op == "Const"
                if not inside:
                    continue
                # Readers outside the block are fine when nothing reads them in turn (a variable's
                # `Read/ReadVariableOp` that only a checkpoint looks at): they join too.
                others = [reader for reader in readers[source] if reader not in members]
                if all(not readers[reader] and reader.startswith(prefix) and reader not in taken
                       for reader in others):
                    members.add(source)
                    members.update(others)
                    grown = True
    return members
