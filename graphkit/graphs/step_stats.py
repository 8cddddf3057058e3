"""What the runtime actually did: per-op intervals from a traced `Session.run`.

    run_metadata = run_traced(session, ["loss", "train_op"], feed_dict, runs=3)  # graphkit.runtime.tracing
    traces = [parse_run_metadata(md, run=i) for i, md in enumerate(run_metadata)]
    summary = summarize(traces[-1])
    print(summary.average_parallelism, summary.critical_path)

Parsing takes protos (`RunMetadata` / `StepStats`), never a session
(`graphkit.runtime.tracing.run_traced` makes them). Each executed op becomes an `OpInterval` on a lane of
its device. TensorFlow's CPU executor leaves `thread_id` at 0, so ops that
overlap in time on one (device, thread) are packed onto separate lanes: every
lane is a sequence of non-overlapping ops, as on one executor thread, and the
number of lanes of a device is the concurrency that was actually observed.

Chrome trace JSON and SVG Gantt charts are written by `graphkit.viz.chrome_trace`
and `graphkit.viz.gantt`.
"""

from __future__ import annotations

import dataclasses
import re

from graphkit.errors import TraceError
from graphkit.graphs.names import op_name

# "name = Op(input, ^control, other:1)", the format TensorFlow's Timeline parses too.
_LABEL = re.compile(r"(.*) = (.*)\((.*)\)")


@dataclasses.dataclass(frozen=True)
class OpInterval:
    """One executed op: when it ran, where, and what it read.

    Attributes:
      name: node name in the executed (partition) graph.
      op: op type from the timeline label ("unknown" if there is none).
      device: full device name, e.g. /job:localhost/replica:0/task:0/device:CPU:0.
      thread: the executor thread id recorded by TensorFlow (0 when not recorded).
      lane: lane index within the device (see the module docstring).
      start_us, end_us: absolute times in microseconds (all_start_micros and
        all_start_micros + all_end_rel_micros, like TensorFlow's Timeline).
      inputs: names of the nodes it read (data and control inputs).
      run: index of the Session.run call this op belongs to.
    """

    name: str
    op: str
    device: str
    thread: int
    lane: int
    start_us: int
    end_us: int
    inputs: tuple[str, ...]
    run: int = 0

    @property
    def duration_us(self) -> int:
        return self.end_us - self.start_us


@dataclasses.dataclass(frozen=True)
class MemorySample:
    """Bytes an allocator had handed out during a step, after one allocation or free."""

    allocator: str
    time_us: int
    bytes: int
    run: int = 0


@dataclasses.dataclass(frozen=True)
class Lane:
    """One row of a trace: a device and one executor thread (or packed slot of it)."""

    device: str
    thread: int
    lane: int
    label: str


@dataclasses.dataclass(frozen=True)
class StepTrace:
    """Every op interval of one Session.run, sorted by start time.

    Attributes:
      run: index of the Session.run call.
      intervals: OpIntervals sorted by (start, device, lane).
      lanes: every (device, lane) that holds an interval, sorted.
      memory: allocator byte counts over time, sorted by time.
    """

    run: int
    intervals: tuple[OpInterval, ...]
    lanes: tuple[Lane, ...]
    memory: tuple[MemorySample, ...]

    @property
    def start_us(self) -> int:
        return min(interval.start_us for interval in self.intervals)

    @property
    def end_us(self) -> int:
        return max(interval.end_us for interval in self.intervals)

    @property
    def wall_us(self) -> int:
        return self.end_us - self.start_us


@dataclasses.dataclass(frozen=True)
class DeviceTotals:
    """Per-device totals of one step: ops, busy time, lanes used."""

    device: str
    op_count: int
    busy_us: int
    lanes: int
    start_us: int
    end_us: int


@dataclasses.dataclass(frozen=True)
class TraceSummary:
    """What one traced step measured.

    Attributes:
      wall_us: first op start to last op end.
      busy_us: sum of op durations over all devices and lanes.
      average_parallelism: busy_us / wall_us, the mean number of ops running.
      max_concurrency: most ops running at one instant.
      critical_path: op names of the chain the step actually waited on, first to
        last: from the last op to finish, back through whatever it waited for
        last, an input or a free thread (see `critical_path`).
      critical_path_busy_us: summed durations of those ops (the rest of the wall
        time on that chain is executor overhead and waiting).
      devices: DeviceTotals per device, sorted by device name.
    """

    wall_us: int
    busy_us: int
    average_parallelism: float
    max_concurrency: int
    critical_path: tuple[str, ...]
    critical_path_busy_us: int
    devices: tuple[DeviceTotals, ...]


def parse_label(label: str) -> tuple[str, tuple[str, ...]]:
    """`y = MatMul(x, ^w:1)` -> ("MatMul", ("x", "w")); ("unknown", ()) if unparsable."""
    match = _LABEL.match(label)
    if match is None:
        return "unknown", ()
    _, op, inputs = match.groups()
    names = tuple(dict.fromkeys(op_name(raw) for raw in inputs.split(", ") if raw))
    return op, names


def parse_step_stats(step_stats, run: int = 0) -> StepTrace:
    """Turns a StepStats proto into a StepTrace.

    Args:
      step_stats: tensorflow.core.framework.step_stats_pb2.StepStats.
      run: index recorded in every interval (which Session.run this was).
    Returns:
      a StepTrace with one OpInterval per NodeExecStats.
    Raises:
      TraceError: the StepStats holds no op at all.
    """
    raw = []
    memory_events: dict[str, list[tuple[int, int]]] = {}
    for dev_stats in step_stats.dev_stats:
        for stats in dev_stats.node_stats:
            op, inputs = parse_label(stats.timeline_label)
            start = stats.all_start_micros
            raw.append((dev_stats.device, stats.thread_id, start, start + stats.all_end_rel_micros,
                        stats.node_name, op, inputs))
            for used in stats.memory:
                records = memory_events.setdefault(used.allocator_name, [])
                records.extend((record.alloc_micros, record.alloc_bytes)
                               for record in used.allocation_records)
    if not raw:
        raise TraceError("step_stats: holds no executed op; was the run made with "
                         "RunOptions(trace_level=FULL_TRACE)?")
    intervals, lanes = _assign_lanes(raw, run)
    memory = []
    for allocator, records in sorted(memory_events.items()):
        total = 0
        for time_us, delta in sorted(records):
            total += delta
            memory.append(MemorySample(allocator, time_us, total, run))
    memory.sort(key=lambda sample: (sample.time_us, sample.allocator))
    return StepTrace(run=run, intervals=intervals, lanes=lanes, memory=tuple(memory))


def _assign_lanes(raw, run: int) -> tuple[tuple[OpInterval, ...], tuple[Lane, ...]]:
    """Packs each (device, thread)'s intervals onto the fewest non-overlapping lanes.

    Greedy by start time, longer op first on ties, each onto the first free lane:
    optimal for intervals, and a chain of ops tends to stay on one lane.
    """
    intervals = []
    lanes = []
    for device in sorted({item[0] for item in raw}):
        on_device = [item for item in raw if item[0] == device]
        threads = sorted({item[1] for item in on_device})
        threads_recorded = threads != [0]
        device_lanes = 0
        for thread in threads:
            slot_ends: list[int] = []
            slot_lanes: list[int] = []
            mine = sorted((item for item in on_device if item[1] == thread),
                          key=lambda item: (item[2], -item[3]))
            for _, _, start, end, name, op, inputs in mine:
                slot = next((i for i, last_end in enumerate(slot_ends) if last_end <= start), None)
                if slot is None:
                    slot = len(slot_ends)
                    slot_ends.append(end)
                    slot_lanes.append(device_lanes)
                    if threads_recorded:
                        label = f"thread {thread}" + (f"/{slot}" if slot else "")
                    else:
                        label = f"lane {slot}"
                    lanes.append(Lane(device, thread, device_lanes, label))
                    device_lanes += 1
                slot_ends[slot] = end
                intervals.append(OpInterval(name, op, device, thread, slot_lanes[slot],
                                            start, end, inputs, run))
    intervals.sort(key=lambda interval: (interval.start_us, interval.device, interval.lane, interval.name))
    return tuple(intervals), tuple(lanes)


def parse_run_metadata(run_metadata, run: int = 0) -> StepTrace:
    """The StepTrace of a RunMetadata proto.

    Raises:
      TraceError: the RunMetadata has no step stats (the run was not traced).
    """
    if not run_metadata.HasField("step_stats") or not run_metadata.step_stats.dev_stats:
        raise TraceError("run_metadata: has no step stats; pass RunOptions(trace_level=FULL_TRACE) "
                         "and this RunMetadata to Session.run")
    return parse_step_stats(run_metadata.step_stats, run)


def summarize(trace: StepTrace) -> TraceSummary:
    """Average parallelism, critical path actually taken and per-device totals."""
    wall = trace.wall_us
    busy = sum(interval.duration_us for interval in trace.intervals)
    path = critical_path(trace)
    devices = []
    for device in sorted({interval.device for interval in trace.intervals}):
        on_device = [interval for interval in trace.intervals if interval.device == device]
        devices.append(DeviceTotals(
            device=device,
            op_count=len(on_device),
            busy_us=sum(interval.duration_us for interval in on_device),
            lanes=len({interval.lane for interval in on_device}),
            start_us=min(interval.start_us for interval in on_device),
            end_us=max(interval.end_us for interval in on_device)))
    return TraceSummary(
        wall_us=wall,
        busy_us=busy,
        average_parallelism=busy / wall if wall > 0 else 1.0,
        max_concurrency=max_concurrency(trace),
        critical_path=tuple(interval.name for interval in path),
        critical_path_busy_us=sum(interval.duration_us for interval in path),
        devices=tuple(devices))


def critical_path(trace: StepTrace) -> tuple[OpInterval, ...]:
    """The chain of ops the step waited on, first to last.

    Starts at the op that finished last and walks back. Each op waited either
    for its input that finished last (a dataflow edge) or, when the op before
    it on its lane finished later still, for that op to free the thread (a
    scheduling edge); the walk follows whichever ended later, inputs winning
    ties. So the path accounts for the step's wall time, thread waits included.
    """
    by_name = {interval.name: interval for interval in trace.intervals}
    previous_on_lane = {}
    lane_last: dict[tuple[str, int], OpInterval] = {}
    for interval in sorted(trace.intervals, key=lambda i: (i.start_us, -i.end_us)):
        key = (interval.device, interval.lane)
        previous_on_lane[interval.name] = lane_last.get(key)
        lane_last[key] = interval
    current = max(trace.intervals, key=lambda interval: (interval.end_us, interval.start_us))
    path = [current]
    seen = {current.name}
    while True:
        inputs = [by_name[name] for name in current.inputs if name in by_name and name not in seen]
        waited_for = max(inputs, key=lambda interval: (interval.end_us, interval.start_us), default=None)
        before = previous_on_lane[current.name]
        if before is not None and before.name not in seen and (
                waited_for is None or before.end_us > waited_for.end_us):
            waited_for = before
        if waited_for is None:
            break
        current = waited_for
        seen.add(current.name)
        path.append(current)
    return tuple(reversed(path))


def op_durations(trace: StepTrace) -> dict[str, int]:
    """Op name -> microseconds it ran: costs for `analysis.work_span(cost="measured")`."""
    return {interval.name: interval.duration_us for interval in trace.intervals}


def max_concurrency(trace: StepTrace) -> int:
    """The most ops whose intervals overlap at one instant (touching ends do not overlap)."""
    events = sorted([(interval.start_us, 1) for interval in trace.intervals if interval.duration_us > 0]
                    + [(interval.end_us, -1) for interval in trace.intervals if interval.duration_us > 0])
    running = best = 0
    for _, change in events:
        running += change
        best = max(best, running)
    return max(best, 1)
