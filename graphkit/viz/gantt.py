"""An SVG Gantt chart of one traced step: one row per lane, one bar per op.

    write_gantt_svg(parse_run_metadata(run_metadata), "step.svg")

Rows are the trace's lanes (device and executor thread), bars are op intervals
coloured by op type, each with a <title> tooltip; the axis is in milliseconds
from the step's start. Hand-written SVG: no plotting library needed.
"""

from __future__ import annotations

import hashlib
import math
from xml.sax.saxutils import escape, quoteattr

from graphkit.files import write_output_text
from graphkit.graphs.step_stats import StepTrace

# Style lives apart from the layout below: a palette picked by op type.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
           "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")
ROW_HEIGHT = 22
LABEL_WIDTH = 260
AXIS_HEIGHT = 30
MAX_TICKS = 10
LEGEND_ROW = 16
LEGEND_ENTRIES = 12  # op types in the legend, the busiest first; the rest share one "other" line


def op_colour(op: str) -> str:
    """A stable palette colour for an op type."""
    return PALETTE[int(hashlib.md5(op.encode()).hexdigest(), 16) % len(PALETTE)]


def round_ticks(span_ms: float, most: int = MAX_TICKS) -> tuple[list[float], int]:
    """Tick positions in ms at a round step (1, 2 or 5 times a power of ten), and the decimals to print.

    Returns ([0, step, 2 step, ... <= span_ms], decimals): at most `most` + 1
    ticks, every label printed with the same number of decimals.
    """
    span_ms = max(span_ms, 1e-3)
    power = 10.0 ** math.floor(math.log10(span_ms / most))
    step = next(m * power for m in (1, 2, 5, 10) if span_ms / (m * power) <= most)
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    count = int(math.floor(span_ms / step + 1e-9))
    return [round(i * step, decimals + 3) for i in range(count + 1)], decimals


def gantt_svg(trace: StepTrace, width: int = 1200) -> str:
    """The SVG document (a string) of `trace`'s lanes and op intervals.

    Each lane is a <g class="lane"> with data-device and data-lane attributes
    holding a <text> label and one <rect class="op"> per op. The axis ticks sit
    at round steps of milliseconds; a <g class="legend"> below the lanes names
    the colour of each op type, the busiest first.
    """
    start, wall = trace.start_us, max(trace.wall_us, 1)
    plot_width = width - LABEL_WIDTH - 40  # room for the last tick label
    legend = _legend_entries(trace)
    lanes_bottom = AXIS_HEIGHT + ROW_HEIGHT * len(trace.lanes)
    height = lanes_bottom + 10 + LEGEND_ROW * (len(legend) + 1)

    def x_of(time_us: int) -> float:
        return LABEL_WIDTH + plot_width * (time_us - start) / wall

    parts = [
        (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">'),
        f"<title>run {trace.run}: {len(trace.intervals)} ops in {wall / 1000:.3f} ms</title>",
        '<g class="axis">',
    ]
    ticks, decimals = round_ticks(wall / 1000)
    for tick_ms in ticks:
        x = x_of(start + tick_ms * 1000)
        parts.append(f'<line x1="{x:.1f}" y1="{AXIS_HEIGHT - 6}" x2="{x:.1f}" y2="{lanes_bottom}" '
                     f'stroke="#ddd"/>')
        parts.append(f'<text class="tick" x="{x:.1f}" y="{AXIS_HEIGHT - 10}" text-anchor="middle">'
                     f"{tick_ms:.{decimals}f} ms</text>")
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
    parts.append('<g class="legend">')
    for row, (op, busy_us) in enumerate(legend):
        y = lanes_bottom + 10 + row * LEGEND_ROW
        fill = op_colour(op) if op else "#ffffff"
        label = f"{op}: {busy_us / 1000:.3f} ms" if op else f"other op types: {busy_us / 1000:.3f} ms"
        parts.append(f'<rect x="4" y="{y}" width="12" height="12" fill="{fill}" stroke="#999"/>'
                     f'<text x="22" y="{y + 10}">{escape(label)}</text>')
    parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _legend_entries(trace: StepTrace) -> list[tuple[str, int]]:
    """(op type, busy us) for the legend, busiest first; "" stands for the op types left over."""
    busy: dict[str, int] = {}
    for interval in trace.intervals:
        busy[interval.op] = busy.get(interval.op, 0) + interval.duration_us
    ranked = sorted(busy.items(), key=lambda item: (-item[1], item[0]))
    shown, rest = ranked[:LEGEND_ENTRIES], ranked[LEGEND_ENTRIES:]
    if rest:
        shown.append(("", sum(us for _, us in rest)))
    return shown


def write_gantt_svg(trace: StepTrace, path: str, width: int = 1200) -> str:
    """Writes `gantt_svg(trace, width)` to `path` atomically; returns `path`.

    Raises:
      OutputError: `path` cannot be written (nothing is left behind).
    """
    return write_output_text(path, gantt_svg(trace, width), "Gantt chart")
