"""Loads a SavedModel into a session and runs its signatures by key.

    with load_saved_model("out/saved_model") as loaded:
        probabilities = run_signature(loaded, {"x": images})["probabilities"]

Callers name inputs and outputs by signature key (`x`, `probabilities`), never
by graph tensor name. TF1 SavedModels (graphkit's export, the v1 Builder) and
TF2 ones (`tf.saved_model.save`, Keras `model.export`) both load. Every problem
is one line: the model itself (missing or corrupt directory, unknown tag set or
signature, a signature no session can run by key) is a SavedModelError; an input
is checked by `graphkit.runtime.feeds.check_array`, the one feed checker
(FeedError for an unknown or missing key, DTypeError, ShapeError).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Self

import numpy as np
import tensorflow as tf

from graphkit import constants as names
from graphkit.errors import FeedError, SavedModelError, tf_error_line
from graphkit.graphs.saved_model import (
    SignatureRecord,
    captured_variables,
    checkpoint_keys,
    export_directory,
    read_saved_model,
    select_meta_graph,
    signature_records,
)
from graphkit.runtime.feeds import check_array, describe
from graphkit.tf_private import silence_deprecations

v1 = tf.compat.v1

class LoadedModel:
    """A SavedModel loaded into its own graph and session; close it when done.

    Attributes:
      path: the export directory.
      tags: the tag set that was loaded.
      session: the `tf.compat.v1.Session` holding the restored variables.
      signatures: signature key -> SignatureRecord.
    """

    def __init__(self, path: str, tags: tuple[str, ...], session: v1.Session,
                 signatures: Mapping[str, SignatureRecord]):
        self.path = path
        self.tags = tags
        self.session = session
        self.signatures = dict(signatures)

    def signature(self, key: str = names.DEFAULT_SIGNATURE_KEY) -> SignatureRecord:
        """The signature named `key`; SavedModelError naming the known ones if absent."""
        if key not in self.signatures:
            raise SavedModelError(f"{self.path}: no signature {key!r}; known: {sorted(self.signatures)}")
        return self.signatures[key]

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def load_saved_model(export_dir: str, tags: Sequence[str] | str | None = names.DEFAULT_TAGS,
                     config: v1.ConfigProto | None = None) -> LoadedModel:
    """Loads the MetaGraph tagged `tags` into a new graph and session.

    Works on TF1 SavedModels (`tf.compat.v1.saved_model.Builder`, graphkit's
    export) and TF2 ones (`tf.saved_model.save`, Keras `model.export`): a TF2
    signature is a function call op in the graph, and its init op restores the
    variables when the model loads.

    Args:
      export_dir: the SavedModel directory (or its saved_model.pb).
      tags: the tag set, as a sequence or "serve,gpu"; None: "serve", or the
        only tag set when there is just one.
      config: the session's ConfigProto.
    Raises:
      SavedModelError: missing or corrupt directory, no MetaGraph with exactly
        `tags`, or TensorFlow cannot load it (e.g. truncated variables).
    """
    proto = read_saved_model(export_dir)
    export_dir = export_directory(export_dir)
    meta_graph = select_meta_graph(proto, tags, export_dir)
    tag_list = list(meta_graph.meta_info_def.tags)
    session = v1.Session(graph=tf.Graph(), config=config)
    try:
        with session.graph.as_default(), silence_deprecations():
            v1.saved_model.loader.load(session, tag_list, export_dir)
        restore_captured_variables(session, meta_graph, export_dir)
    except (tf.errors.OpError, OSError, ValueError, RuntimeError) as err:
        session.close()
        raise SavedModelError(f"{export_dir}: cannot load SavedModel: {tf_error_line(err)}") from None
    return LoadedModel(os.path.abspath(export_dir), tuple(tag_list), session, signature_records(meta_graph))


def restore_captured_variables(session: v1.Session, meta_graph, export_dir: str) -> int:
    """Fills the variable handles TF2 signatures capture that the v1 restore op left empty.

    See `graphkit.graphs.saved_model.captured_variables`; values come from the
    SavedModel's checkpoint by object-graph id. Returns how many were filled.
    """
    captured = captured_variables(meta_graph)
    if not captured:
        return 0
    graph = session.graph
    handles = {name: graph.get_tensor_by_name(f"{name}:0") for name in captured}
    with graph.as_default():
        states = session.run({name: tf.raw_ops.VarIsInitializedOp(resource=handle)
                              for name, handle in handles.items()})
    empty = sorted(name for name, initialized in states.items() if not initialized)
    if not empty:
        return 0
    prefix = os.path.join(export_dir, names.VARIABLES_DIRECTORY, names.VARIABLES_FILENAME)
    reader = tf.train.load_checkpoint(prefix)
    keys = checkpoint_keys(reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"), [captured[n] for n in empty])
    feeds, assigns = {}, []
    with graph.as_default(), tf.name_scope("graphkit_restore_captured"):
        for name in empty:
            value = reader.get_tensor(keys[captured[name]])
            placeholder = v1.placeholder(tf.as_dtype(value.dtype), value.shape)
            assigns.append(tf.raw_ops.AssignVariableOp(resource=handles[name], value=placeholder))
            feeds[placeholder] = value
    session.run(assigns, feeds)
    return len(empty)


def run_signature(loaded: LoadedModel, inputs: Mapping[str, object],
                  signature_key: str = names.DEFAULT_SIGNATURE_KEY,
                  outputs: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Runs one signature with inputs and outputs named by signature key.

    Args:
      loaded: a LoadedModel.
      inputs: signature input key -> array-like; every input key is required
        (string inputs take str or bytes arrays).
      signature_key: which signature to run.
      outputs: output keys to fetch (default: all).
    Returns:
      output key -> numpy array (string outputs as arrays of bytes objects).
    Raises:
      SavedModelError: unknown signature or output key, a signature that cannot
        be run by key, or TensorFlow fails the run.
      FeedError: an unknown or a missing input key.
      DTypeError, ShapeError: an array does not fit its input.
    """
    signature = loaded.signature(signature_key)
    feed = check_signature_inputs(signature, inputs, where=f"{loaded.path} signature {signature_key!r}")
    known_outputs = {tensor.key: tensor for tensor in signature.outputs}
    wanted = list(outputs) if outputs is not None else list(known_outputs)
    for key in wanted:
        if key not in known_outputs:
            raise SavedModelError(f"{loaded.path} signature {signature_key!r}: no output {key!r}; "
                                  f"known: {sorted(known_outputs)}")
    fetches = {key: known_outputs[key].name for key in wanted}
    try:
        return loaded.session.run(fetches, feed)
    except tf.errors.OpError as err:
        raise SavedModelError(f"{loaded.path} signature {signature_key!r}: run failed: "
                              f"{tf_error_line(err)}") from None


def check_signature_inputs(signature: SignatureRecord, inputs: Mapping[str, object],
                           where: str) -> dict[str, np.ndarray]:
    """Checks arrays against a signature's inputs; returns a feed of tensor name -> array.

    Raises:
      SavedModelError: the signature cannot be run by key (TF2's init op, sparse
        or composite tensors).
      FeedError: an unknown or a missing key.
      DTypeError, ShapeError: an array does not fit its input (graphkit.runtime.feeds.check_array).
    """
    if not signature.runnable:
        raise SavedModelError(f"{where}: cannot be run by key: {signature.why_not_runnable}")
    known = {tensor.key: tensor for tensor in signature.inputs}
    for key in inputs:
        if key not in known:
            raise FeedError(f"{where}: no input {key!r}; known: {sorted(known)}")
    feed = {}
    for key, tensor in known.items():
        if key not in inputs:
            raise FeedError(f"{where}: missing input {key!r} ({describe(tensor)})")
        feed[tensor.name] = check_array(f"{where} input {key!r}", tensor, inputs[key])
    return feed
