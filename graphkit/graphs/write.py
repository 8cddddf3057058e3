"""Writing GraphDefs to disk, atomically, as binary `.pb` or text `.pbtxt`."""

from __future__ import annotations

from google.protobuf import text_format

from graphkit.files import atomic_write_bytes


def write_graph_def(graph_def, path: str) -> str:
    """Writes a GraphDef: text format if `path` ends in .pbtxt, else binary."""
    if path.endswith(".pbtxt"):
        data = text_format.MessageToString(graph_def).encode()
    else:
        data = graph_def.SerializeToString()
    return atomic_write_bytes(path, data)
