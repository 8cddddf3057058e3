"""What a traced run feeds: random inputs of a graph's placeholders or a signature's inputs.

    session, fetches, feeds = open_traceable("frozen.pb", ["probabilities"], batch=32)
    with session:
        run_metadata = run_traced(session, fetches, feeds)

A GraphDef's placeholders that the fetches need are fed random data of their
static shape (unknown dimensions get `batch`); a SavedModel's signature inputs
are fed the same way, and its outputs are the default fetches.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from graphkit import constants
from graphkit.errors import AnalysisError, TraceError
from graphkit.graphs.load import load_graph
from graphkit.graphs.names import variable_initializers
from graphkit.graphs.work_span import prune
from graphkit.runtime.saved_model import load_saved_model


def open_traceable(path: str, fetch: Sequence[str] | None = None,
                   tags: str = ",".join(constants.DEFAULT_TAGS),
                   signature: str = constants.DEFAULT_SIGNATURE_KEY, config=None, batch: int = 1,
                   seed: int = 0, init_variables: bool = False):
    """Opens a SavedModel directory or GraphDef file for a traced run.

    Args:
      path: SavedModel directory, or GraphDef `.pb`/`.pbtxt`.
      fetch: op/tensor names (a SavedModel also takes signature output keys);
        default for a SavedModel: every signature output.
      tags: SavedModel tag set, comma separated.
      signature: SavedModel signature key.
      config: the session's ConfigProto.
      batch: size of unknown input dimensions.
      seed: seed of the random inputs.
      init_variables: GraphDef only: run every `<variable>/Assign` first.
    Returns:
      (session, fetches, feeds): the caller closes the session.
    Raises:
      TraceError: nothing at `path`, no fetch for a GraphDef, an input random data cannot stand in for.
    """
    if not os.path.exists(path):
        raise TraceError(f"{path}: no such file or directory")
    rng = np.random.default_rng(seed)
    if os.path.isdir(path):
        return _open_saved_model(path, fetch, [tag for tag in tags.split(",") if tag], signature, config,
                                 rng, batch)
    return _open_graph_def(path, fetch, config, rng, batch, init_variables)


def random_array(rng, dtype, shape, batch: int, where: str):
    """Random data of `dtype` and `shape` (None dims -> `batch`): floats in [0, 1), ints in {0, 1}.

    Raises:
      TraceError: unknown rank, or a dtype random data cannot stand in for (strings...).
    """
    if shape is None:
        raise TraceError(f"{where}: shape of unknown rank; cannot make random input")
    dims = tuple(batch if dim is None else dim for dim in shape)
    dtype = tf.dtypes.as_dtype(dtype)
    if dtype.is_floating:
        return rng.random(dims).astype(dtype.as_numpy_dtype)
    if dtype.is_integer:
        return rng.integers(0, 2, size=dims).astype(dtype.as_numpy_dtype)  # 0/1 are valid ids and labels
    if dtype.is_bool:
        return rng.random(dims) < 0.5
    raise TraceError(f"{where}: dtype {dtype.name} cannot be fed random data")


def _open_saved_model(path, fetch, tags, signature_key, config, rng, batch):
    loaded = load_saved_model(path, tags=tags, config=config)
    try:
        signature = loaded.signature(signature_key)
        outputs = {tensor.key: tensor.name for tensor in signature.outputs}
        fetches = [outputs.get(name, name) for name in fetch] if fetch else list(outputs.values())
        if not fetches:
            raise TraceError(f"{path}: signature {signature_key!r} has no outputs; pass --fetch")
        feeds = {tensor.name: random_array(rng, tensor.dtype, tensor.shape, batch,
                                           f"{path} input {tensor.key!r}")
                 for tensor in signature.inputs}
    except BaseException:
        loaded.close()
        raise
    return loaded.session, fetches, feeds


def _open_graph_def(path, fetch, config, rng, batch, init_variables):
    if not fetch:
        raise TraceError(f"{path}: a GraphDef has no signature; pass --fetch NAME")
    graph_def = load_graph(path).graph_def
    try:
        needed = prune(graph_def, fetch)
    except AnalysisError as err:
        raise TraceError(str(err)) from None
    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(graph_def, name="")
    session = tf.compat.v1.Session(graph=graph, config=config)
    if init_variables:
        initializers = variable_initializers(graph_def)
        if not initializers:
            raise TraceError(f"{path}: --init-variables: the graph has no <variable>/Assign ops")
        session.run(initializers)
    feeds = {}
    for node in needed.node:
        if node.op != "Placeholder":
            continue
        tensor = graph.get_tensor_by_name(f"{node.name}:0")
        shape = None if tensor.shape.rank is None else tensor.shape.as_list()
        feeds[tensor.name] = random_array(rng, tensor.dtype, shape, batch, f"placeholder {node.name}")
    return session, list(fetch), feeds
