"""An SVG Gantt chart of one traced step: one row per lane, one bar per op.

    write_gantt_svg(parse_run_metadata(run_metadata), "step.svg")

Rows are the trace's lanes (device and executor thread), bars are op intervals
coloured by op type, each with a <title> tooltip; the axis is in milliseconds
from the step's start. Hand-written SVG: no plotting library needed.
"""

from __future__ import annotations

import hashlib
from xml.sax.saxutils import escape, quoteattr

from graphkit.files import atomic_write_text
from graphkit.graphs.step_stats import StepTrace

# Style lives apart from the layout below: a palette picked by op type.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
           "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")
ROW_HEIGHT = 22
LABEL_WIDTH = 260
AXIS_HEIGHT = 30
TICKS = 10


def op_colour(op: str) -> str:
    """A stable palette colour for an op type."""
    return PALETTE[int(hashlib.md5(op.encode()).hexdigest(), 16) % len(PALETTE)]


def gantt_svg(trace: StepTrace, width: int = 1200) -> str:
    """The SVG document (a string) of `trace`'s lanes and op intervals.

    Each lane is a <g class="lane"> with data-device and data-lane attributes
    holding a <text> label and one <rect class="op"> per op.
    """
    start, wall = trace.start_us, max(trace.wall_us, 1)
    plot_width = width - LABEL_WIDTH - 40  # room for the last tick label
    height = AXIS_HEIGHT + ROW_HEIGHT * len(trace.lanes) + 10

    def x_of(time_us: int) -> float:
        return LABEL_WIDTH + plot_width * (time_us - start) / wall

    parts = [
        (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">'),
        f"<title>run {trace.run}: {len(trace.intervals)} ops in {wall / 1000:.3f} ms</title>",
        '<g class="axis">',
    ]
    for tick in range(TICKS + 1):
        time_us = start + wall * tick / TICKS
        x = x_of(time_us)
        parts.append(f'<line x1="{x:.1f}" y1="{AXIS_HEIGHT - 6}" x2="{x:.1f}" y2="{height - 10}" '
                     f'stroke="#ddd"/>')
        parts.append(f'<text x="{x:.1f}" y="{AXIS_HEIGHT - 10}" text-anchor="middle">'
                     f"{(time_us - start) / 1000:.2f} ms</text>")
    parts.append("</g>")
    for row, lane in enumerate(trace.lanes):
        y = AXIS_HEIGHT + row * ROW_HEIGHT
        short_device = lane.device.split("/")[-1] if "/" in lane.device else lane.device
        parts.append(f'<g class="lane" data-device={quoteattr(lane.device)} data-lane="{lane.lane}">')
        parts.append(f'<text x="4" y="{y + ROW_HEIGHT * 0.65:.1f}">'
                     f"{escape(short_device)} {escape(lane.label)}</text>")
        for interval in trace.intervals:
            if interval.device != lane.device or interval.lane != lane.lane:
                continue
            x = x_of(interval.start_us)
            bar = max(x_of(interval.end_us) - x, 0.5)
            tooltip = f"{interval.name} ({interval.op}): {interval.duration_us} us"
            parts.append(f'<rect class="op" data-name={quoteattr(interval.name)} x="{x:.2f}" y="{y + 3}" '
                         f'width="{bar:.2f}" height="{ROW_HEIGHT - 6}" fill="{op_colour(interval.op)}">'
                         f"<title>{escape(tooltip)}</title></rect>")
        parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def write_gantt_svg(trace: StepTrace, path: str, width: int = 1200) -> str:
    """Writes `gantt_svg(trace, width)` to `path` atomically; returns `path`."""
    return atomic_write_text(path, gantt_svg(trace, width))
