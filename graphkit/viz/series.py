"""Numbered siblings with the same inner structure, drawn as one series node.

`block0` ... `block35` (or `add`, `add_1` ... `add_9`) under one parent, each
holding the same multiset of op types, form the series `block[0-35]`. The walk
sees a series as one more name scope: `find_series` names the series, and
`SeriesNames` renames every op `model/block3/MatMul` to
`model/block[0-35]/block3/MatMul` for the walk and back for the drawing, so a
series collapses to one box and expands like any scope. Series components hold
`[`, which TensorFlow op names never contain.

    series = find_series(graph_def)
    series.display("model/block3/MatMul")     # "model/block[0-35]/block3/MatMul"
    series.real("model/block[0-35]/block3")   # "model/block3"
"""

from __future__ import annotations

import collections
import dataclasses
import re
from typing import Mapping

from tensorflow.core.framework import graph_pb2

from graphkit.graphs.names import op_name

MIN_SERIES = 3      # numbered sibling scopes that make a series
MIN_OP_SERIES = 5   # numbered sibling ops (`add` ... `add_4`): fewer read better one by one
_NUMBERED = re.compile(r"^(?P<base>.*?[A-Za-z.\-])_?(?P<number>\d+)$")
_SERIES_COMPONENT = re.compile(r"[^/\s\[\]]+\[[0-9,\-]+\]/")


@dataclasses.dataclass(frozen=True)
class Series:
    """One series of numbered siblings.

    Attributes:
      path: its box id, `model/block[0-35]` (real names above it).
      members: the siblings' real paths, in number order.
      chained: each member feeds the next (a stack of layers rather than parallel branches).
      scopes: True for name scopes, False for single ops (`add`, `add_1` ...).
    """

    path: str
    members: tuple
    chained: bool
    scopes: bool

    @property
    def label(self) -> str:
        """The second line of a collapsed series box: `36 × block, chained`."""
        base = _NUMBERED.match(self.members[-1].rsplit("/", 1)[-1]).group("base")
        return f"{len(self.members)} × {base}" + (", chained" if self.chained else "")


@dataclasses.dataclass(frozen=True)
class SeriesNames:
    """Every series of a graph and the renaming between real and drawn names."""

    series: Mapping[str, Series]          # path as the walk sees it (display) -> Series
    component: Mapping[str, str]          # real member path -> its series' last component
    _scopes: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)  # memo

    def display(self, name: str) -> str:
        """The name the walk uses: a series component inserted before each series member."""
        if not self.component or not name:
            return name
        shown = self._scopes.get(name)
        if shown is None:
            parent, _, last = name.rpartition("/")
            shown = self.display(parent) + "/" if parent else ""
            series_part = self.component.get(name)
            shown += f"{series_part}/{last}" if series_part is not None else last
            self._scopes[name] = shown
        return shown

    @staticmethod
    def real(name: str) -> str:
        """The real name of a drawn op, scope or box id (series components removed, a series itself kept)."""
        return _SERIES_COMPONENT.sub("", name) if "[" in name else name


def find_series(graph_def: graph_pb2.GraphDef, min_size: int = MIN_SERIES) -> SeriesNames:
    """Finds the series of numbered siblings of `graph_def`.

    Args:
      graph_def: the graph (names and op types only).
      min_size: fewest sibling scopes that make a series (ops: at least MIN_OP_SERIES).
    Returns:
      a SeriesNames (empty when no series has `min_size` members).
    """
    types = {node.name: node.op for node in graph_def.node}
    # scope -> (ops below it, sum of their op types' hashes): equal multisets of op types give
    # equal signatures, at the cost of two integer additions per op and level.
    count, digest = collections.Counter(), collections.Counter()
    for name, op_type in types.items():
        code = hash(op_type)
        index = name.rfind("/")
        while index > 0:
            scope = name[:index]
            count[scope] += 1
            digest[scope] += code
            index = name.rfind("/", 0, index)
    scopes = set(count)
    candidates = collections.defaultdict(list)
    for path in scopes | set(types):
        if path in scopes and path in types:
            continue  # a scope headed by an op (a variable and its reads) reads as that op
        parent, _, last = path.rpartition("/")
        match = _NUMBERED.match(last)
        base, number = (match.group("base"), int(match.group("number"))) if match else (last, 0)
        if path in scopes:
            signature = (count[path], digest[path])
        else:
            signature = types[path]
        candidates[(parent, base, path in scopes, signature)].append((number, path))
    series, component = {}, {}
    for (parent, base, is_scope, _), members in candidates.items():
        if len(members) < (min_size if is_scope else max(min_size, MIN_OP_SERIES)) or not any(
                number for number, _ in members):
            continue
        members.sort()
        numbers = [number for number, _ in members]
        if len(set(numbers)) != len(numbers):
            continue
        last = f"{base}[{_ranges(numbers)}]"
        path = f"{parent}/{last}" if parent else last
        paths = tuple(p for _, p in members)
        series[path] = Series(path, paths, False, is_scope)
        component.update({p: last for p in paths})
    _mark_chains(graph_def, series)
    names = SeriesNames({}, component)
    # Keyed by the path the walk sees: the series' parent may itself be a member of a series.
    by_display = {}
    for one in series.values():
        parent, _, last = one.path.rpartition("/")
        by_display[f"{names.display(parent)}/{last}" if parent else last] = one
    return SeriesNames(by_display, component)


def _mark_chains(graph_def: graph_pb2.GraphDef, series: dict) -> None:
    """Sets `chained` on the series whose every member feeds the next one."""
    member_index = {}
    for path, one in series.items():
        for i, member in enumerate(one.members):
            member_index[member] = (path, i)
    if not member_index:
        return

    memo = {"": ()}

    def owners(name: str) -> tuple:
        """(series, member index) for each series member `name` is, or is under."""
        found = memo.get(name)
        if found is None:
            found = owners(name.rpartition("/")[0])
            hit = member_index.get(name)
            if hit is not None:
                found = found + (hit,)
            memo[name] = found
        return found

    links = collections.defaultdict(set)
    for node in graph_def.node:
        heads = dict(owners(node.name))
        if not heads:
            continue
        for tensor in node.input:
            for path, i in owners(op_name(tensor)):
                if heads.get(path) == i + 1:
                    links[path].add(i)
    for path, one in list(series.items()):
        if len(links[path]) == len(one.members) - 1:
            series[path] = dataclasses.replace(one, chained=True)


def _ranges(numbers: list) -> str:
    """[0, 1, 2, 5, 7, 8] -> "0-2,5,7-8"."""
    runs = [[numbers[0], numbers[0]]]
    for number in numbers[1:]:
        if number == runs[-1][1] + 1:
            runs[-1][1] = number
        else:
            runs.append([number, number])
    return ",".join(str(first) if first == last else f"{first}-{last}" for first, last in runs)
