"""Loads a SavedModel into a session and runs its signatures by key.

    with load_saved_model("out/saved_model") as loaded:
        probabilities = run_signature(loaded, {"x": images})["probabilities"]

Callers name inputs and outputs by signature key (`x`, `probabilities`), never
by graph tensor name. Every problem (missing or corrupt directory, unknown tag
set, signature or input, wrong dtype or shape) is a one-line SavedModelError.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Self

import numpy as np
import tensorflow as tf

from graphkit import constants as names
from graphkit.errors import SavedModelError, tf_error_line
from graphkit.graphs.saved_model import SignatureRecord, TensorRecord, read_saved_model_proto, tensor_records
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


def load_saved_model(export_dir: str, tags: Sequence[str] = names.DEFAULT_TAGS,
                     config: v1.ConfigProto | None = None) -> LoadedModel:
    """Loads the MetaGraph tagged `tags` into a new graph and session.

    Raises:
      SavedModelError: missing or corrupt directory, or no MetaGraph with exactly `tags`.
    """
    proto = read_saved_model_proto(export_dir)
    wanted = set(tags)
    matching = [meta for meta in proto.meta_graphs if set(meta.meta_info_def.tags) == wanted]
    if not matching:
        known = [",".join(meta.meta_info_def.tags) for meta in proto.meta_graphs]
        raise SavedModelError(f"{export_dir}: no MetaGraph with tag set {','.join(tags)!r}; known: {known}")
    signatures = {key: SignatureRecord(key, sig.method_name, tensor_records(sig.inputs),
                                       tensor_records(sig.outputs))
                  for key, sig in matching[0].signature_def.items()}
    session = v1.Session(graph=tf.Graph(), config=config)
    try:
        with session.graph.as_default(), silence_deprecations():
            v1.saved_model.loader.load(session, list(tags), export_dir)
    except (tf.errors.OpError, OSError, ValueError, RuntimeError) as err:
        session.close()
        raise SavedModelError(f"{export_dir}: cannot load SavedModel: {tf_error_line(err)}") from None
    return LoadedModel(os.path.abspath(export_dir), tuple(tags), session, signatures)


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
      SavedModelError: unknown signature, input or output key, a missing input,
        or an array whose dtype or shape does not fit the signature.
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
      SavedModelError: unknown or missing key, wrong dtype, wrong rank or dimension.
    """
    known = {tensor.key: tensor for tensor in signature.inputs}
    for key in inputs:
        if key not in known:
            raise SavedModelError(f"{where}: no input {key!r}; known: {sorted(known)}")
    feed = {}
    for key, tensor in known.items():
        if key not in inputs:
            raise SavedModelError(f"{where}: missing input {key!r} ({tensor.dtype} {tensor.shape_text()})")
        feed[tensor.name] = _check_array(f"{where} input {key!r}", tensor, inputs[key])
    return feed


def _check_array(where: str, tensor: TensorRecord, value) -> np.ndarray:
    array = np.asarray(value)
    if tensor.dtype == "string":
        if array.dtype.kind not in "SUO":
            raise SavedModelError(f"{where}: expected dtype string, got {array.dtype}")
        array = array.astype(object)
    elif array.dtype != np.dtype(tensor.dtype):
        raise SavedModelError(f"{where}: expected dtype {tensor.dtype}, got {array.dtype}")
    if tensor.shape is not None:
        mismatch = array.ndim != len(tensor.shape) or any(
            d is not None and d != actual for d, actual in zip(tensor.shape, array.shape))
        if mismatch:
            raise SavedModelError(f"{where}: expected shape {tensor.shape_text()}, got {tuple(array.shape)}")
    return array
