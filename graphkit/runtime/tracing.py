"""Traced `Session.run` calls: the RunMetadata that `graphkit.graphs.step_stats` parses.

    run_metadata = run_traced(session, ["loss", "train_op"], feed_dict, runs=3, warmup=1)
    traces = [parse_run_metadata(md, run=i) for i, md in enumerate(run_metadata)]
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from graphkit.errors import DTypeError, ShapeError, TraceError, tf_error_line


def run_traced(session, fetches: Sequence, feed_dict: Mapping | None = None, runs: int = 1,
               partition_graphs: bool = False, warmup: int = 0) -> tuple:
    """Runs `fetches` `runs` times with FULL_TRACE; returns one RunMetadata per run.

    Args:
      session: a tf.compat.v1.Session.
      fetches: op/tensor names (`loss:0`, `train_op`) or Tensors/Operations.
      feed_dict: tensor name or Tensor -> array-like.
      runs: how many Session.run calls to trace (each gets its own RunMetadata).
      partition_graphs: also record the graphs that ran (RunMetadata.partition_graphs).
      warmup: untraced runs first (the first run of a fetch also pays for
        Grappler and memory allocation).
    Returns:
      a tuple of `runs` RunMetadata protos.
    Raises:
      TraceError: a fetch or feed key is not in the session's graph, a feed value
        does not fit its tensor's dtype or shape, `runs` < 1, or TensorFlow rejects
        the run (e.g. a placeholder the fetches need is not fed).
    """
    import tensorflow as tf

    if not isinstance(runs, int) or runs < 1:
        raise TraceError(f"runs: expected an int >= 1, got {runs!r}")
    if not isinstance(warmup, int) or warmup < 0:
        raise TraceError(f"warmup: expected an int >= 0, got {warmup!r}")
    graph = session.graph
    resolved_fetches = [_resolve_fetch(graph, fetch) for fetch in fetches]
    if not resolved_fetches:
        raise TraceError("fetches: expected at least one op or tensor name, got none")
    resolved_feeds = _resolve_feeds(graph, feed_dict or {})
    options = tf.compat.v1.RunOptions(trace_level=tf.compat.v1.RunOptions.FULL_TRACE,
                                      output_partition_graphs=partition_graphs)
    collected = []
    for index in range(warmup + runs):
        run_metadata = tf.compat.v1.RunMetadata()
        traced = index >= warmup
        try:
            session.run(resolved_fetches, resolved_feeds, options=options if traced else None,
                        run_metadata=run_metadata if traced else None)
        except (tf.errors.InvalidArgumentError, tf.errors.FailedPreconditionError,
                tf.errors.NotFoundError) as err:
            raise TraceError(f"Session.run of {[f.name for f in resolved_fetches]}: "
                             f"{_uninitialized_hint(err) or tf_error_line(err)}") from None
        if traced:
            collected.append(run_metadata)
    return tuple(collected)


# What TensorFlow says when a run reads a variable that nothing initialised or restored.
_UNINITIALIZED = ("Container localhost does not exist", "uninitialized value", "Could not find variable",
                  "Attempting to use uninitialized")


def _uninitialized_hint(error) -> str:
    """A one-line hint when `error` is a read of a variable never initialised or restored, else ""."""
    message = str(getattr(error, "message", error))
    if not any(marker in message for marker in _UNINITIALIZED):
        return ""
    named = re.search(r"(?:Could not find variable|uninitialized value) ([\w/.\-]+?)[.:,\s]", message)
    what = f"variable {named.group(1)}" if named else "variables"
    return (f"the graph reads {what} that nothing initialised or restored: pass --init-variables "
            f"(initialiser values), or trace the checkpoint's .meta beside its data files (restored values)")


def _resolve_fetch(graph, fetch):
    name = fetch if isinstance(fetch, str) else getattr(fetch, "name", repr(fetch))
    if not isinstance(fetch, str):
        if getattr(fetch, "graph", None) is not graph:
            raise TraceError(f"fetch {name!r}: belongs to another graph than the session's")
        return fetch
    try:
        return graph.as_graph_element(fetch, allow_tensor=True, allow_operation=True)
    except (KeyError, ValueError, TypeError) as err:
        raise TraceError(f"fetch {fetch!r}: not an op or tensor of the graph ({err})") from err


def _resolve_feeds(graph, feed_dict: Mapping) -> dict:
    from graphkit.runtime.feeds import check_array

    resolved = {}
    for key, value in feed_dict.items():
        name = key if isinstance(key, str) else getattr(key, "name", repr(key))
        if isinstance(key, str):
            try:
                tensor = graph.as_graph_element(key, allow_tensor=True, allow_operation=False)
            except (KeyError, ValueError, TypeError) as err:
                raise TraceError(f"feed {key!r}: not a tensor of the graph ({err})") from err
        elif getattr(key, "graph", None) is graph:
            tensor = key
        else:
            raise TraceError(f"feed {name!r}: not a tensor of the session's graph")
        if not graph.is_feedable(tensor):
            raise TraceError(f"feed {name!r}: this tensor cannot be fed")
        try:
            resolved[tensor] = check_array(f"feed {name!r}", tensor, value)
        except (ShapeError, DTypeError) as err:
            raise TraceError(str(err)) from err
    return resolved
