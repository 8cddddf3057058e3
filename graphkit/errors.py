"""The one error hierarchy of graphkit.

Every error a user can cause (a wrong feed, a missing file, an unknown signature)
raises a subclass of `GraphkitError` whose message starts with *where* (tensor,
scope, path, op) and then gives the expected and the actual value. The CLI turns
a `GraphkitError` into one line on stderr and exit code 2; anything else is a bug
and keeps its traceback.
"""


# Lines of a TensorFlow error message that say where, not what: the Python stack of the
# failing node, and the gRPC trailer a remote task's error carries.
_TF_BOILERPLATE = ("Graph execution error", "Detected at node", "Node:", "[[", "File ", "defined at",
                   "Additional GRPC", ":UNKNOWN")


def tf_error_lines(error) -> list[str]:
    """The lines of a TensorFlow error (or its message) that say what went wrong, in order.

    A runtime error's message starts with "Graph execution error:" and the
    Python stack that built the failing node; the cause comes after the last
    "Node:" line. Separator lines ("=====") and the gRPC trailer of a remote
    task's error are left out too. Never empty: falls back to every line, then
    the error's type name.
    """
    text = error if isinstance(error, str) else (
        getattr(error, "message", None) or str(error) or type(error).__name__)
    lines = [line.strip() for line in str(text).splitlines() if line.strip().strip("=")]
    node_lines = [index for index, line in enumerate(lines) if line.startswith("Node:")]
    after_node = lines[node_lines[-1] + 1:] if node_lines else lines
    useful = [line for line in after_node if not line.startswith(_TF_BOILERPLATE)]
    return useful or lines or [type(error).__name__]


def tf_error_line(error) -> str:
    """The one line of a TensorFlow error that says what went wrong (`tf_error_lines`' first).

    Used to turn TensorFlow errors into one-line graphkit errors.
    """
    return tf_error_lines(error)[0]


class GraphkitError(Exception):
    """Base class: a problem with the user's input, not a bug in graphkit."""


class ArgumentError(GraphkitError, ValueError):
    """An argument value is outside what it allows: `units=0`, a dropout rate of 1.5,
    an unknown padding or mode, a repeat count below 1. Checked before any op is built."""


class ShapeError(GraphkitError, ValueError):
    """A tensor or array has a shape the graph cannot take: a layer's input of the wrong
    rank or with an unknown dimension it needs, a feed of the wrong shape."""


class DTypeError(GraphkitError, TypeError):
    """A tensor or array has a dtype the graph cannot take (float ids, string images)."""


class FeedError(GraphkitError, KeyError):
    """A feed names a placeholder that is missing, unknown or not in the graph."""

    def __str__(self):  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class ModelError(GraphkitError, ValueError):
    """A `GraphModel` lacks a tensor it needs, or names one from another graph."""


class CheckpointError(GraphkitError):
    """A checkpoint directory is empty, corrupt, or was written by another graph."""


class DataError(GraphkitError, ValueError):
    """A data file is missing, truncated, corrupt, or fails its checksum."""


class SavedModelError(GraphkitError):
    """A SavedModel directory is missing or corrupt, or lacks a tag set/signature."""


class GraphFileError(GraphkitError):
    """A graph source cannot be read, for any command: no such file, not a GraphDef,
    MetaGraph or SavedModel, a GraphDef with nameless nodes (graphkit.graphs.load)."""


class RenderError(GraphkitError):
    """A readable graph cannot be drawn as asked: unknown scope to expand or hide, bad
    view option or output format, no Graphviz `dot` or `dot` failed (graphkit.viz)."""


class TraceError(GraphkitError):
    """A traced run cannot be analysed: unknown fetch, no step stats."""


class AnalysisError(GraphkitError, ValueError):
    """A GraphDef cannot be analysed statically: an input names a missing node, a
    cycle outside a while loop, an unknown fetch or cost model (graphkit.graphs.work_span)."""


class BuildError(GraphkitError):
    """The C++ program cannot be configured or compiled."""


class PlacementError(GraphkitError):
    """Ops cannot be placed as asked: a device name that does not parse or that the
    process does not have, an unknown placement policy, a graph without the scopes a
    policy needs, run metadata without partition graphs (graphkit.runtime.placement,
    graphkit.graphs.placement)."""


class ClusterError(GraphkitError):
    """A cluster cannot be read, started or reached: a cluster file or TF_CONFIG that
    does not parse, an unknown job or task, a port already in use, a task that does not
    answer in time, a training job that keeps failing (graphkit.runtime.cluster_spec,
    graphkit.runtime.cluster, graphkit.runtime.distributed)."""


class XlaError(GraphkitError):
    """XLA cannot do what was asked: an op without an XLA kernel in a compiled scope or
    function, an XLA flag set after TensorFlow read it, a dump directory that cannot be
    written (graphkit.runtime.xla)."""


class OutputError(GraphkitError):
    """An output path cannot be written: its directory is not writable or not a
    directory, or the path names a directory (graphkit.files.check_output_path).
    Raised before the work that would fill it, and nothing is left behind."""
