"""Chrome trace JSON of one or more traced steps (opens in Perfetto / chrome://tracing).

    traces = [parse_run_metadata(md, run=i) for i, md in enumerate(run_metadata)]
    write_chrome_trace(traces, "step.json")

One process per device with one thread per lane; a complete event ("ph": "X")
per op; flow events ("ph": "s" / "f") from each op to the ops that read it;
counter events ("ph": "C") with the bytes each allocator holds; and a
"Session.run" process with one event per run. TensorFlow's own Timeline writes
one step per file; here several runs share one time axis, in the order they ran.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from graphkit.errors import TraceError
from graphkit.files import write_output_text
from graphkit.graphs.step_stats import StepTrace, summarize

RUNS_PID = 0
MEMORY_PID = 1
FIRST_DEVICE_PID = 2


def chrome_trace(traces: Sequence[StepTrace]) -> dict:
    """The Chrome trace object ({"traceEvents": [...], ...}) of several steps.

    Times are microseconds from the start of the earliest step.

    Raises:
      TraceError: no traces given.
    """
    if not traces:
        raise TraceError("traces: expected at least one StepTrace, got none")
    origin = min(trace.start_us for trace in traces)
    devices = sorted({interval.device for trace in traces for interval in trace.intervals})
    pids = {device: FIRST_DEVICE_PID + index for index, device in enumerate(devices)}
    events = [
        _metadata("process_name", RUNS_PID, {"name": "Session.run"}),
        _metadata("process_sort_index", RUNS_PID, {"sort_index": RUNS_PID}),
        _metadata("process_name", MEMORY_PID, {"name": "Memory"}),
        _metadata("process_sort_index", MEMORY_PID, {"sort_index": len(devices) + FIRST_DEVICE_PID}),
    ]
    for device, pid in pids.items():
        events.append(_metadata("process_name", pid, {"name": device}))
        events.append(_metadata("process_sort_index", pid, {"sort_index": pid}))
    lane_labels = {}
    for trace in traces:
        for lane in trace.lanes:
            lane_labels.setdefault((lane.device, lane.lane), lane.label)
    for (device, lane), label in sorted(lane_labels.items()):
        events.append(_metadata("thread_name", pids[device], {"name": label}, tid=lane))
        events.append(_metadata("thread_sort_index", pids[device], {"sort_index": lane}, tid=lane))

    flow_id = 0
    for trace in traces:
        summary = summarize(trace)
        events.append({
            "ph": "X", "name": f"run {trace.run}", "cat": "Session.run", "pid": RUNS_PID, "tid": 0,
            "ts": trace.start_us - origin, "dur": trace.wall_us,
            "args": {"ops": len(trace.intervals), "busy_us": summary.busy_us,
                     "average_parallelism": round(summary.average_parallelism, 4)}})
        by_name = {interval.name: interval for interval in trace.intervals}
        for interval in trace.intervals:
            pid = pids[interval.device]
            events.append({
                "ph": "X", "name": interval.name, "cat": interval.op, "pid": pid, "tid": interval.lane,
                "ts": interval.start_us - origin, "dur": interval.duration_us,
                "args": {"op": interval.op, "run": trace.run, "inputs": list(interval.inputs)}})
            for input_name in interval.inputs:
                producer = by_name.get(input_name)
                if producer is None:
                    continue
                flow_id += 1
                events.append({"ph": "s", "name": "dataflow", "cat": "dataflow", "id": flow_id,
                               "pid": pids[producer.device], "tid": producer.lane,
                               "ts": producer.start_us - origin})
                events.append({"ph": "f", "bp": "e", "name": "dataflow", "cat": "dataflow", "id": flow_id,
                               "pid": pid, "tid": interval.lane, "ts": interval.start_us - origin})
        for sample in trace.memory:
            events.append({"ph": "C", "name": sample.allocator, "pid": MEMORY_PID, "tid": 0,
                           "ts": sample.time_us - origin, "args": {"bytes": sample.bytes}})
    return {"traceEvents": events, "displayTimeUnit": "ms",
            "otherData": {"runs": len(traces), "origin_us": origin}}


def _metadata(name: str, pid: int, args: dict, tid: int = 0) -> dict:
    return {"ph": "M", "name": name, "pid": pid, "tid": tid, "args": args}


def write_chrome_trace(traces: Sequence[StepTrace], path: str) -> str:
    """Writes `chrome_trace(traces)` as JSON to `path` atomically; returns `path`.

    Raises:
      OutputError: `path` cannot be written (nothing is left behind).
    """
    return write_output_text(path, json.dumps(chrome_trace(traces), separators=(",", ":")), "Chrome trace")
