"""What a traced run feeds: given arrays, else random data for placeholders or signature inputs.

    session, fetches, feeds = open_traceable("frozen.pb", ["probabilities"], batch=32)
    session, fetches, feeds = open_traceable("out/saved_model", feeds={"x": images})
    with session:
        run_metadata = run_traced(session, fetches, feeds)

A GraphDef's placeholders that the fetches need are fed random data of their
static shape (unknown dimensions get `batch`) unless `feeds` names them; a
SavedModel's signature inputs are fed the same way, and its outputs are the
default fetches. A checkpoint's `.meta` is imported with its Saver and its
variables restored from the checkpoint beside it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf

from graphkit import constants
from graphkit.errors import AnalysisError, TraceError, tf_error_line
from graphkit.graphs.load import load_graph
from graphkit.graphs.names import variable_initializers
from graphkit.graphs.work_span import prune
from graphkit.runtime.saved_model import load_saved_model


def open_traceable(path: str, fetch: Sequence[str] | None = None, tags: str | None = None,
                   signature: str | None = None, config=None, batch: int = 1,
                   seed: int = 0, init_variables: bool = False, feeds: Mapping[str, object] | None = None):
    """Opens a SavedModel directory, GraphDef file or checkpoint `.meta` for a traced run.

    Args:
      path: SavedModel directory, GraphDef `.pb`/`.pbtxt`, or a checkpoint's
        `.meta` (its variables are restored from the checkpoint beside it).
      fetch: op/tensor names (a SavedModel also takes signature output keys);
        default for a SavedModel: every signature output.
      tags: SavedModel tag set, comma separated (default: serve); SavedModel only.
      signature: SavedModel signature key (default: serving_default); SavedModel only.
      config: the session's ConfigProto.
      batch: size of unknown input dimensions.
      seed: seed of the random inputs.
      init_variables: GraphDef only: run every `<variable>/Assign` first.
      feeds: name -> array fed instead of random data: a signature input key or
        a placeholder's op/tensor name. Other inputs get random data.
    Returns:
      (session, fetches, feed dict of tensor name -> array): the caller closes the session.
    Raises:
      TraceError: nothing at `path`, no fetch for a GraphDef, tags or a signature
        given for a GraphDef, a feed that names no input, an input random data
        cannot stand in for.
    """
    if not os.path.exists(path):
        raise TraceError(f"{path}: no such file or directory")
    rng = np.random.default_rng(seed)
    feeds = dict(feeds or {})
    if os.path.isdir(path):
        if init_variables:
            raise TraceError(f"{path}: --init-variables is for a graph file; a SavedModel restores "
                             f"its variables")
        return _open_saved_model(path, fetch, tags, signature or constants.DEFAULT_SIGNATURE_KEY, config,
                                 rng, batch, feeds)
    if tags is not None or signature is not None:
        raise TraceError(f"{path}: --tags/--signature choose parts of a SavedModel; a graph file has "
                         f"none (name what to run with --fetch)")
    return _open_graph_file(path, fetch, config, rng, batch, init_variables, feeds)


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


def random_placeholder_feeds(graph_def, rng, batch: int, fed: Sequence[str] = ()) -> dict:
    """Random arrays for every Placeholder of `graph_def` (usually pruned to what the fetches need).

    Shapes come from the placeholder's `shape` attr (unknown dims get `batch`);
    placeholders named in `fed` (tensor names) are left out.
    Returns:
      tensor name (`x:0`) -> array.
    Raises:
      TraceError: a placeholder of unknown rank, or of a dtype random data cannot stand in for.
    """
    feeds = {}
    for node in graph_def.node:
        tensor_name = f"{node.name}:0"
        if node.op != "Placeholder" or tensor_name in fed:
            continue
        shape_attr = node.attr["shape"].shape if "shape" in node.attr else None
        shape = None
        if shape_attr is not None and not shape_attr.unknown_rank:
            shape = [None if dim.size < 0 else dim.size for dim in shape_attr.dim]
        feeds[tensor_name] = random_array(rng, node.attr["dtype"].type, shape, batch,
                                          f"placeholder {node.name}")
    return feeds


def _open_saved_model(path, fetch, tags, signature_key, config, rng, batch, feeds):
    loaded = load_saved_model(path, tags=tags, config=config)
    try:
        signature = loaded.signature(signature_key)
        if not signature.runnable:
            raise TraceError(f"{path}: signature {signature_key!r} cannot be run by key: "
                             f"{signature.why_not_runnable}")
        outputs = {tensor.key: tensor.name for tensor in signature.outputs}
        fetches = [outputs.get(name, name) for name in fetch] if fetch else list(outputs.values())
        if not fetches:
            raise TraceError(f"{path}: signature {signature_key!r} has no outputs; pass --fetch")
        by_key = {tensor.key: tensor for tensor in signature.inputs}
        by_name = {tensor.name: tensor for tensor in signature.inputs}
        given = {}
        for name, value in feeds.items():
            tensor = by_key.get(name) or by_name.get(name) or by_name.get(f"{name}:0")
            if tensor is None:
                raise TraceError(f"{path}: --feed {name}: not an input of signature {signature_key!r}; "
                                 f"inputs: {sorted(by_key)}")
            given[tensor.name] = value
        feed_dict = {tensor.name: given[tensor.name] if tensor.name in given else
                     random_array(rng, tensor.dtype, tensor.shape, batch, f"{path} input {tensor.key!r}")
                     for tensor in signature.inputs}
    except BaseException:
        loaded.close()
        raise
    return loaded.session, fetches, feed_dict


def _open_graph_file(path, fetch, config, rng, batch, init_variables, feeds):
    if not fetch:
        raise TraceError(f"{path}: a graph file has no signature; pass --fetch NAME")
    graph_def = load_graph(path).graph_def
    try:
        needed = prune(graph_def, fetch, [name for name in feeds])
    except AnalysisError as err:
        raise TraceError(f"{path}: {err}") from None
    graph = tf.Graph()
    checkpoint = _checkpoint_beside(path)
    with graph.as_default():
        if checkpoint:
            saver = tf.compat.v1.train.import_meta_graph(path, clear_devices=True)
        else:
            saver = None
            tf.graph_util.import_graph_def(graph_def, name="")
    session = tf.compat.v1.Session(graph=graph, config=config)
    try:
        if saver is not None and not init_variables:
            try:
                with graph.as_default():  # outside, Saver.restore goes the eager way and finds no variables
                    saver.restore(session, checkpoint)
            except (tf.errors.OpError, ValueError) as err:
                raise TraceError(f"{checkpoint}: cannot restore the variables: "
                                 f"{tf_error_line(err)}") from None
        if init_variables:
            initializers = variable_initializers(graph_def)
            if not initializers:
                raise TraceError(f"{path}: --init-variables: the graph has no <variable>/Assign ops")
            session.run(initializers)
        feed_dict = {}
        for name, value in feeds.items():
            feed_dict[name if ":" in name else f"{name}:0"] = value
        feed_dict.update(random_placeholder_feeds(needed, rng, batch, fed=list(feed_dict)))
    except BaseException:
        session.close()
        raise
    return session, list(fetch), feed_dict


def _checkpoint_beside(path: str) -> str | None:
    """The checkpoint prefix of a `.meta` file whose data files are there, else None."""
    if not path.endswith(".meta"):
        return None
    prefix = path[: -len(".meta")]
    return prefix if os.path.isfile(prefix + ".index") else None
