"""Colours boxes by a grouping of ops (devices, XLA clusters, anything): fills and a legend.

The caller names a group for each op it knows about; a box takes the colour of
the group most of its ops belong to. A box whose ops fall into several groups
keeps its majority colour and is marked as mixed (the style draws it with a
double border; its tooltip lists the shares). Ops without a group keep the
box kind's own look.

    colors = color_boxes(view, {"model/dense/MatMul": "/gpu:0", ...}, graph_ops, palette, "device")
    colors.fills["model/dense"]   # "#8dd3c7"
    colors.legend                 # (LegendEntry("/gpu:0", "#8dd3c7", 412), ...)
"""

from __future__ import annotations

import collections
import colorsys
import dataclasses
import json
import re
from typing import Collection, Mapping, Optional, Sequence

from graphkit.errors import RenderError

LEGEND_PREFIX = "[legend] "
LEGEND_CLUSTER = "cluster_[legend]"
_NUMBER = re.compile(r"(\d+)")


@dataclasses.dataclass(frozen=True)
class LegendEntry:
    """One group of the legend: its label, colour, and the drawn ops in it."""

    group: str
    color: str
    ops: int


@dataclasses.dataclass(frozen=True)
class BoxColors:
    """The colours of one drawing.

    Attributes:
      title: the legend's heading ("device", "XLA cluster", ...).
      legend: one entry per group that has a drawn op, in natural name order.
      fills: box id -> fill colour, for boxes with at least one grouped op.
      shares: box id -> ((group, ops), ...) most first, for boxes whose ops are in several groups.
    """

    title: str
    legend: tuple
    fills: Mapping[str, str]
    shares: Mapping[str, tuple]

    def tooltip_lines(self, box_id: str) -> tuple:
        """Extra hover lines for a box: its group, or every group's share when mixed."""
        if box_id in self.shares:
            total = sum(count for _, count in self.shares[box_id])
            parts = ", ".join(f"{group} {100 * count / total:.0f}%" for group, count in self.shares[box_id])
            return (f"{self.title or 'group'}: mixed ({parts})",)
        for entry in self.legend:
            if self.fills.get(box_id) == entry.color:
                return (f"{self.title or 'group'}: {entry.group}",)
        return ()


def check_color_groups(color_groups) -> dict:
    """`color_groups` as a plain dict of str -> str.

    Raises:
      RenderError: not a mapping, or a key or value that is not a non-empty string.
    """
    if not isinstance(color_groups, Mapping):
        raise RenderError(f"color_groups: expected a mapping of op name -> group, got "
                          f"{type(color_groups).__name__}")
    for op, group in color_groups.items():
        if not isinstance(op, str) or not isinstance(group, str) or not op or not group:
            raise RenderError(f"color_groups: expected op name -> group as non-empty strings, got "
                              f"{op!r}: {group!r}")
    return dict(color_groups)


def color_boxes(box_of: Mapping[str, str], color_groups: Mapping[str, str], graph_ops: Collection[str],
                palette: Sequence[str], title: str = "") -> BoxColors:
    """Fill colours and legend for the boxes of a view.

    Args:
      box_of: op name -> box id (GraphView.box_of).
      color_groups: op name -> group label.
      graph_ops: every op name of the graph (to catch a grouping of some other graph).
      palette: colours for the groups in natural name order; more groups than colours get generated hues.
      title: the legend's heading.
    Returns:
      a BoxColors.
    Raises:
      RenderError: color_groups is malformed, or names no op of the graph.
    """
    color_groups = check_color_groups(color_groups)
    if color_groups and not any(op in graph_ops for op in color_groups):
        example = next(iter(color_groups))
        raise RenderError(f"color_groups: none of its {len(color_groups)} ops is in the graph "
                          f"(first: {example!r})")
    per_box = collections.defaultdict(collections.Counter)
    group_ops = collections.Counter()
    for op, group in color_groups.items():
        box = box_of.get(op)
        if box is not None:
            per_box[box][group] += 1
            group_ops[group] += 1
    groups = sorted(group_ops, key=natural_key)
    colors = dict(zip(groups, group_palette(len(groups), palette)))
    fills, shares = {}, {}
    for box, counter in per_box.items():
        ranked = sorted(counter.items(), key=lambda item: (-item[1], natural_key(item[0])))
        fills[box] = colors[ranked[0][0]]
        if len(ranked) > 1:
            shares[box] = tuple(ranked)
    legend = tuple(LegendEntry(group, colors[group], group_ops[group]) for group in groups)
    return BoxColors(title, legend, fills, shares)


def group_palette(count: int, palette: Sequence[str]) -> list:
    """`count` distinct colours: the palette first, then evenly spread pastel hues."""
    colors = list(palette[:count])
    extra = count - len(colors)
    for i in range(extra):
        red, green, blue = colorsys.hls_to_rgb((i * 0.618034) % 1.0, 0.78, 0.55)
        colors.append(f"#{round(red * 255):02x}{round(green * 255):02x}{round(blue * 255):02x}")
    return colors


def natural_key(text: str) -> tuple:
    """Sort key that puts "gpu:2" before "gpu:10"."""
    return tuple(int(part) if part.isdigit() else part for part in _NUMBER.split(text))


def load_color_groups(path: str) -> dict:
    """Reads a JSON object of op name -> group from `path`.

    Raises:
      RenderError: the file cannot be read, is not JSON, or is not an object of strings.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as err:
        raise RenderError(f"{path}: cannot read color groups ({err.strerror or err})") from None
    except ValueError as err:
        raise RenderError(f"{path}: not JSON ({err})") from None
    try:
        return check_color_groups(data)
    except RenderError as err:
        raise RenderError(f"{path}: {err}") from None


def legend_title(colors: Optional[BoxColors]) -> str:
    """The legend's heading as drawn."""
    return (colors.title if colors and colors.title else "groups")
