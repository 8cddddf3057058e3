"""XLA as one switch for a scope, a whole session or a function of tensors, and a report of what it took.

    from graphkit.runtime import xla

    xla.enable_xla_flags(auto_clustering=True, clustering_dumps=True)  # before the first session
    with graph.as_default():
        with xla.jit_scope():                     # scope: ops built here are compiled ...
            y = chain(x)
        z = xla.compile_function(chain, x)        # function: always compiled, or an error naming the op
    xla.mark_scopes(graph, ["dense", "gradients/dense"])   # scope, on a graph already built
    xla.confine_jit(graph)                        # ... and nothing else is, even under auto-clustering
    config = xla.auto_clustering_config()        # session: TensorFlow clusters what it can
    report, values = xla.run_cluster_report(graph, [y], {x: data}, config)
    with xla.clustered_graph_dumps("dumps/"):       # TensorFlow's clustering decisions, as files
        session.run(y, {x: data})                  # (XLA's HLO: enable_xla_flags(hlo_dump_dir=...))

Three traps this module handles:
- `jit_scope` is a hint: with auto-clustering on, TensorFlow may cluster ops
  outside the scope together with the ones inside; only ops marked
  `_XlaCompile=false` (an outer `jit_scope(compile_ops=False)`) are never
  compiled. `confine_jit` marks every op without a mark that way.
- TensorFlow reads TF_XLA_FLAGS (`--tf_xla_cpu_global_jit`, without which
  auto-clustering leaves CPU ops alone, and `--tf_xla_clustering_debug`) and
  XLA_FLAGS (`--xla_dump_to`) once, at the process's first session or eager
  op (a `tf.function` call too), not at import. `enable_xla_flags` sets them
  and checks with a probe session that they took effect; when TensorFlow read
  them before, it says so.
- Compilation is lazy: a cluster compiles on a later run, not the first, so
  reports and timings warm up first (`WARMUP_RUNS`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import attr_value_pb2

from graphkit import tf_private
from graphkit.errors import XlaError, tf_error_line
from graphkit.graphs import xla_clusters
from graphkit.runtime.tracing import run_traced

v1 = tf.compat.v1

MODES = ("scope", "session", "function")
XLA_DEVICE_TYPE = "XLA_CPU_JIT"
TF_XLA_FLAGS = "TF_XLA_FLAGS"
XLA_FLAGS = "XLA_FLAGS"
DUMP_GRAPH_PREFIX = "TF_DUMP_GRAPH_PREFIX"
CPU_GLOBAL_JIT = "--tf_xla_cpu_global_jit"
CLUSTERING_DEBUG = "--tf_xla_clustering_debug"
HLO_DUMP_TO = "--xla_dump_to"
HLO_AS_TEXT = "--xla_dump_hlo_as_text"
COMPILE_ATTR = xla_clusters.COMPILE_ATTR
SCOPE_ATTR = "_XlaScope"
# TensorFlow compiles a cluster on a later call than its first (lazy compilation); two
# warm-up runs make the third one run compiled code.
WARMUP_RUNS = 2
# Ops of a traced function body that only pass its arguments in and results out.
_FUNCTION_PLUMBING = ("Placeholder", "Identity", "NoOp")
# Ops TensorFlow keeps out of every cluster without complaint (a resource variable's handle, graph
# inputs, control-only groups): a scope may hold them, nothing is marked or checked for them.
NEVER_CLUSTERED = ("VarHandleOp", "Placeholder", "NoOp")


# -- flags ---------------------------------------------------------------------------------

def enable_xla_flags(auto_clustering: bool = False, clustering_dumps: bool = False,
                     hlo_dump_dir: str | None = None) -> None:
    """Sets TensorFlow's XLA flags in the environment and checks they took effect.

    Call it before the process's first session or eager op: TensorFlow reads these flags once.

    Args:
      auto_clustering: `--tf_xla_cpu_global_jit`, so that a session with
        `auto_clustering_config()` clusters CPU ops.
      clustering_dumps: `--tf_xla_clustering_debug`, so that TensorFlow writes its clustering
        decisions where TF_DUMP_GRAPH_PREFIX points (`run_cluster_report` needs it).
      hlo_dump_dir: XLA writes the HLO of every compiled cluster here, as text.
    Raises:
      XlaError: the HLO directory cannot be written, or TensorFlow read its flags before they
        were set here (naming the flag).
    """
    if hlo_dump_dir is not None:
        check_writable_dir(hlo_dump_dir, "hlo_dump_dir")
        _add_flags(XLA_FLAGS, (f"{HLO_DUMP_TO}={os.path.abspath(hlo_dump_dir)}", HLO_AS_TEXT))
    _add_flags(TF_XLA_FLAGS, (CPU_GLOBAL_JIT,) * auto_clustering + (CLUSTERING_DEBUG,) * clustering_dumps)
    probe = _probe()
    late = ("TensorFlow read its XLA flags at this process's first session or eager op, before {flag} "
            "was set; "
            "set it in the environment before Python starts, or call "
            "graphkit.runtime.xla.enable_xla_flags() before any session")
    if auto_clustering and not probe.auto_clustering:
        raise XlaError(f"{TF_XLA_FLAGS}={CPU_GLOBAL_JIT}: " + late.format(flag=CPU_GLOBAL_JIT))
    if clustering_dumps and not probe.clustering_dumps:
        raise XlaError(f"{TF_XLA_FLAGS}={CLUSTERING_DEBUG}: " + late.format(flag=CLUSTERING_DEBUG))
    if hlo_dump_dir is not None and not _hlo_dump_took(hlo_dump_dir):
        raise XlaError(f"{XLA_FLAGS}={HLO_DUMP_TO}={hlo_dump_dir}: XLA read its flags (at its first "
                       f"compilation) before this was set; set it before Python starts")


def _add_flags(variable: str, flags: Sequence[str]) -> None:
    current = os.environ.get(variable, "").split()
    names = {flag.split("=", 1)[0] for flag in flags}
    kept = [flag for flag in current if flag.split("=", 1)[0] not in names]
    if flags:
        os.environ[variable] = " ".join(kept + list(flags))


@dataclasses.dataclass(frozen=True)
class _Probe:
    """What a probe session saw: an unmarked chain auto-clustered; a clustering dump written."""

    auto_clustering: bool
    clustering_dumps: bool


def _probe() -> _Probe:
    """Runs two tiny graphs in one session: a jit_scope op (which also makes TensorFlow register
    its XLA kernels) and an unmarked chain under auto-clustering, dumping both.

    The probe may be the process's first session, which fixes TensorFlow's XLA flags; it turns
    clustering dumps on first, so that reports work later. (TensorFlow writes them only where
    TF_DUMP_GRAPH_PREFIX points, and graphkit sets that only while it makes a report.)
    """
    _add_flags(TF_XLA_FLAGS, (CLUSTERING_DEBUG,))
    flags = os.environ.get(TF_XLA_FLAGS, "")
    return _cached_probe(flags, os.environ.get(XLA_FLAGS, ""))


@functools.lru_cache(maxsize=None)
def _cached_probe(tf_xla_flags: str, xla_flags: str) -> _Probe:
    del tf_xla_flags, xla_flags  # cache keys: a later change of either is probed again
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [4], name="x")
        with tf.xla.experimental.jit_scope():
            scoped = x * 2.0 + 1.0
        chain = x
        for step in range(4):
            chain = tf.maximum(chain * 1.5 - 0.25, chain * 0.5 + float(step))
    feed = {x: np.arange(4, dtype=np.float32)}
    with tempfile.TemporaryDirectory(prefix="graphkit_xla_probe_") as dump_dir:
        with _dump_graphs_to(dump_dir), v1.Session(graph=graph, config=auto_clustering_config()) as session:
            [metadata] = run_traced(session, [scoped, chain], feed, partition_graphs=True, warmup=WARMUP_RUNS)
        ran, _ = xla_clusters.clusters_that_ran(metadata.partition_graphs)
        dumped = any(name.startswith(xla_clusters.MARKED_DUMP) for name in os.listdir(dump_dir))
    return _Probe(auto_clustering=len(ran) >= 2, clustering_dumps=dumped)


def _hlo_dump_took(directory: str) -> bool:
    return any(name.endswith(".txt") for name in os.listdir(directory))


@contextlib.contextmanager
def clustered_graph_dumps(directory: str):
    """Inside the block, TensorFlow writes its clustering decisions for each graph a session first
    runs into `directory` (`mark_for_compilation[_annotated][_k].pbtxt`; graphkit.graphs.xla_clusters
    reads them).

    Raises:
      XlaError: the directory cannot be written, or clustering dumps are off (flag set too late).
    """
    check_writable_dir(directory)
    enable_xla_flags(clustering_dumps=True)
    with _dump_graphs_to(directory):
        yield


@contextlib.contextmanager
def _dump_graphs_to(directory: str):
    """TF_DUMP_GRAPH_PREFIX points at `directory` inside the block (TensorFlow reads it at each dump)."""
    previous = os.environ.get(DUMP_GRAPH_PREFIX)
    os.environ[DUMP_GRAPH_PREFIX] = directory
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(DUMP_GRAPH_PREFIX, None)
        else:
            os.environ[DUMP_GRAPH_PREFIX] = previous


def check_writable_dir(directory: str, what: str = "dump_dir") -> str:
    """Creates `directory` if needed and checks a file can be written in it; returns its absolute path.

    Raises:
      XlaError: naming the setting and the directory when it cannot be created or written.
    """
    path = os.path.abspath(directory)
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".graphkit_write_check_"):
            pass
    except OSError as err:
        raise XlaError(f"{what}={directory}: cannot write XLA dumps there ({err.strerror or err})") from err
    return path


# -- the three switches -----------------------------------------------------------------------

def auto_clustering_config(config: v1.ConfigProto | None = None) -> v1.ConfigProto:
    """A copy of `config` (default: TensorFlow's) whose sessions auto-cluster (global_jit_level ON_1).

    On CPU this needs `enable_xla_flags(auto_clustering=True)` before the process's first session.
    """
    result = v1.ConfigProto()
    if config is not None:
        result.CopyFrom(config)
    result.graph_options.optimizer_options.global_jit_level = v1.OptimizerOptions.ON_1
    return result


@contextlib.contextmanager
def jit_scope():
    """Ops built inside are marked for XLA (their gradients too, in the same scope).

    Raises:
      XlaError: on leaving the block, naming the first op built inside that has no XLA kernel
        (TensorFlow itself would silently leave it out of the cluster).
    """
    graph = v1.get_default_graph()
    first = len(graph.get_operations())
    with tf.xla.experimental.jit_scope(compile_ops=True, separate_compiled_gradients=False):
        yield
    check_compilable(graph.get_operations()[first:], "jit_scope", skip=NEVER_CLUSTERED)


def compile_in_jit_scope(fn: Callable, *tensors: tf.Tensor):
    """`fn(*tensors)` built inside `jit_scope()`: the scope switch in the form `compile_function` has."""
    with jit_scope():
        return fn(*tensors)


def mark_scopes(graph: tf.Graph, scopes: Sequence[str], confine: bool = True) -> tuple:
    """Marks the ops under the name scopes `scopes` of a built graph for XLA, as `jit_scope` would have.

    Stateful random ops stay out: XLA draws other random numbers than TensorFlow's kernels, so
    compiling them would change results. So do NEVER_CLUSTERED ops (variable handles, ...) and
    the ops that initialise variables (run once, compiling them only costs time).

    Args:
      graph: a tf.Graph not yet run by a session (TensorFlow copies a graph at the first run).
      scopes: name scopes ("dense", "gradients/dense") or op names.
      confine: also mark every other op `_XlaCompile=false` (`confine_jit`).
    Returns:
      the names of the ops marked for compilation.
    Raises:
      XlaError: a scope matches no op, or an op in a scope has no XLA kernel (naming it).
    """
    if isinstance(scopes, str) or not scopes:
        raise XlaError(f"scopes: expected a non-empty list of name scopes, got {scopes!r}")
    operations = graph.get_operations()
    initializers = _initializer_ops(operations)
    chosen = []
    for scope in scopes:
        prefix = scope.rstrip("/")
        matched = [op for op in operations if op.name == prefix or op.name.startswith(prefix + "/")]
        if not matched:
            raise XlaError(f"{scope}: no op of the graph is in this name scope")
        chosen += [op for op in matched if op.type not in NEVER_CLUSTERED and op.name not in initializers
                   and not _is_stateful_random(op)]
    chosen = list({op.name: op for op in chosen}.values())
    check_compilable(chosen, "mark_scopes")
    scope_name = attr_value_pb2.AttrValue(s=b"graphkit_" + "+".join(scopes).encode())
    for op in chosen:
        tf_private.set_op_attr(op, COMPILE_ATTR, attr_value_pb2.AttrValue(b=True))
        tf_private.set_op_attr(op, SCOPE_ATTR, scope_name)
    if confine:
        confine_jit(graph)
    return tuple(op.name for op in chosen)


def confine_jit(graph: tf.Graph) -> int:
    """Marks every op without an `_XlaCompile` attr `_XlaCompile=false`, so that only the ops of
    jit scopes are compiled even when the session auto-clusters; returns how many were marked."""
    off = attr_value_pb2.AttrValue(b=False)
    count = 0
    for op in graph.get_operations():
        try:
            op.get_attr(COMPILE_ATTR)
        except ValueError:
            tf_private.set_op_attr(op, COMPILE_ATTR, off)
            count += 1
    return count


def compile_function(fn: Callable, *tensors: tf.Tensor):
    """`fn(*tensors)` built into the current graph as one function that XLA must compile.

    Args:
      fn: a function of tensors returning a tensor or a structure of tensors.
      tensors: its inputs, tensors of the default graph.
    Returns:
      what `fn` returns, as tensors of the default graph (outputs of one call op that carries
      `_XlaMustCompile`).
    Raises:
      XlaError: an op of the function has no XLA kernel (naming it).
    """
    _probe()  # before tf.function starts the eager context, which reads TensorFlow's XLA flags
    compiled = tf.function(fn, jit_compile=True, autograph=False)
    concrete = compiled.get_concrete_function(*tensors)
    check_compilable(concrete.graph.get_operations(), f"compile_function({getattr(fn, '__name__', fn)})",
                     skip=_FUNCTION_PLUMBING)
    return compiled(*tensors)


# -- what XLA can compile -------------------------------------------------------------------

def uncompilable_types(op_types: Iterable[str]) -> frozenset:
    """The op types among `op_types` that have no XLA_CPU_JIT kernel in TensorFlow's registry.

    TensorFlow registers its XLA kernels at the first compilation; a probe session makes sure
    that has happened.
    """
    _probe()
    return frozenset(t for t in set(op_types) if XLA_DEVICE_TYPE not in tf_private.kernel_device_types(t))


def check_compilable(operations: Sequence, where: str, skip: Sequence[str] = ()) -> None:
    """Raises XlaError naming the first op of `operations` that XLA cannot compile.

    Args:
      operations: tf.Operation objects meant for compilation.
      where: what marked them, for the message.
      skip: op types that are no computation (a function's argument placeholders).
    """
    candidates = [op for op in operations if op.type not in skip]
    missing = uncompilable_types(op.type for op in candidates)
    for op in candidates:
        if op.type in missing:
            raise XlaError(f"{op.name}: op type {op.type} has no {XLA_DEVICE_TYPE} kernel, so XLA cannot "
                           f"compile it inside {where}; build it outside the compiled scope")


def _initializer_ops(operations) -> set:
    """Names of the ops that initialise or test variables: `<variable>/Assign` and everything under
    `<variable>/Initializer/` or `<variable>/IsInitialized/`."""
    variables = {op.name for op in operations if op.type in ("VarHandleOp", "VariableV2")}
    return {op.name for op in operations
            if op.name.rsplit("/", 1)[0] in variables and op.name.endswith("/Assign")
            or any(f"{variable}/{part}/" in op.name + "/" for variable in variables
                   for part in ("Initializer", "IsInitialized") if op.name.startswith(variable))}


def _is_stateful_random(op) -> bool:
    return op.op_def.is_stateful and "Random" in op.type


# -- the report -----------------------------------------------------------------------------

def run_cluster_report(graph: tf.Graph, fetches: Sequence, feed_dict: Mapping | None = None,
                       config: v1.ConfigProto | None = None, init_ops: Sequence = (),
                       dump_dir: str | None = None, warmup: int = WARMUP_RUNS):
    """Runs `fetches` in a new session and reports what XLA clustered, compiled and ran.

    Args:
      graph: the tf.Graph (marked with jit scopes, calling compiled functions, or neither).
      fetches: tensors/ops (or their names) to run.
      feed_dict: tensor or name -> array.
      config: the session's ConfigProto (`auto_clustering_config()` for session mode).
      init_ops: run once before anything else (variable initializers).
      dump_dir, warmup: as for `session_cluster_report`.
    Returns:
      (ClusterReport, the fetched values of the traced run).
    Raises:
      XlaError: as for `session_cluster_report`.
    """
    if dump_dir is not None:
        check_writable_dir(dump_dir)
    enable_xla_flags(clustering_dumps=True)  # before the session below, which may be the first
    with v1.Session(graph=graph, config=config) as session:
        if init_ops:
            session.run(list(init_ops))
        return session_cluster_report(session, fetches, feed_dict, dump_dir, warmup,
                                      auto_clustering=is_auto_clustering(config))


def is_auto_clustering(config: v1.ConfigProto | None) -> bool:
    """Whether sessions with `config` auto-cluster (a global_jit_level other than default/off)."""
    return config is not None and config.graph_options.optimizer_options.global_jit_level not in (
        v1.OptimizerOptions.DEFAULT, v1.OptimizerOptions.OFF)


def session_cluster_report(session, fetches: Sequence, feed_dict: Mapping | None = None,
                           dump_dir: str | None = None, warmup: int = WARMUP_RUNS,
                           auto_clustering: bool = False):
    """Reports what XLA clustered, compiled and ran when `session` runs `fetches`.

    The session must not have run these fetches before (TensorFlow clusters a graph when it
    first runs it). It runs them `warmup` times (lazy compilation) and once traced with
    partition graphs; TensorFlow's clustering dump of those runs and the partition graphs make
    the report.

    Args:
      session: a tf.compat.v1.Session (its config decides auto-clustering).
      fetches: tensors/ops (or their names) to run.
      feed_dict: tensor or name -> array.
      dump_dir: keep TensorFlow's dump files in a new directory inside this one (default: a
        temporary directory, removed afterwards).
      warmup: untraced runs first.
      auto_clustering: the session was made with an auto-clustering config (for the reasons
        the report gives).
    Returns:
      (ClusterReport, the fetched values of the traced run).
    Raises:
      XlaError: the dump directory cannot be written, clustering dumps are off (the flag was set
        too late), or the run fails (naming TensorFlow's one-line reason).
    """
    parent = check_writable_dir(dump_dir) if dump_dir is not None else None
    enable_xla_flags(clustering_dumps=True)
    directory = tempfile.mkdtemp(prefix="clustering_", dir=parent)
    try:
        try:
            with _dump_graphs_to(directory):
                metadata, values = _traced_run(session, list(fetches), feed_dict, warmup)
        except tf.errors.OpError as err:
            raise XlaError(f"XLA run of {len(fetches)} fetch(es): {tf_error_line(err)}") from err
        dumps = xla_clusters.read_clustering_dumps(directory)
        types = {node.op for dump in dumps for node in dump.marked.node}
        report = xla_clusters.cluster_report(dumps, metadata.partition_graphs, session.graph.as_graph_def(),
                                             uncompilable_types(types), auto_clustering=auto_clustering)
        return report, values
    finally:
        if parent is None:
            shutil.rmtree(directory, ignore_errors=True)


def _traced_run(session, fetches, feed_dict, warmup):
    """(RunMetadata of the traced run, its fetched values)."""
    for _ in range(warmup):
        session.run(fetches, feed_dict)
    options = v1.RunOptions(trace_level=v1.RunOptions.FULL_TRACE, output_partition_graphs=True)
    metadata = v1.RunMetadata()
    values = session.run(fetches, feed_dict, options=options, run_metadata=metadata)
    return metadata, values
