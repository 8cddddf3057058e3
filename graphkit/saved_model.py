"""Reads a SavedModel: describe it from its proto, or load and run a signature.

    record = inspect_saved_model("out/saved_model")        # no session needed
    print(format_saved_model(record))                      # like saved_model_cli show --all
    with load_saved_model("out/saved_model") as loaded:
        probabilities = run_signature(loaded, {"x": images})["probabilities"]

Callers name inputs and outputs by signature key (`x`, `probabilities`), never
by graph tensor name. Every problem (missing or corrupt directory, unknown tag
set, signature or input, wrong dtype or shape) is a one-line SavedModelError.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import Self

import numpy as np
import tensorflow as tf
from google.protobuf import message, text_format
from tensorflow.python.util import deprecation

from graphkit import signatures as names
from graphkit.errors import SavedModelError, tf_error_line

v1 = tf.compat.v1

_ASSETS_COLLECTION = "saved_model_assets"  # where tf.compat.v1.saved_model.Builder lists assets


@dataclasses.dataclass(frozen=True)
class TensorRecord:
    """One input or output of a signature.

    Attributes:
      key: the signature key callers use (`x`).
      name: the graph tensor behind it (`x:0`).
      dtype: numpy-style dtype name (`float32`, `int64`, `string`).
      shape: dims with None for unknown ones, or None for an unknown rank.
    """

    key: str
    name: str
    dtype: str
    shape: tuple | None

    def shape_text(self) -> str:
        if self.shape is None:
            return "unknown rank"
        return "(" + ", ".join("-1" if d is None else str(d) for d in self.shape) + ")"


@dataclasses.dataclass(frozen=True)
class SignatureRecord:
    """One SignatureDef: key, method name, inputs and outputs sorted by key."""

    key: str
    method_name: str
    inputs: tuple[TensorRecord, ...]
    outputs: tuple[TensorRecord, ...]


@dataclasses.dataclass(frozen=True)
class MetaGraphRecord:
    """One MetaGraph: its tag set, signatures, and asset file names."""

    tags: tuple[str, ...]
    signatures: tuple[SignatureRecord, ...]
    assets: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class SavedModelRecord:
    """What a SavedModel directory holds, read from its proto alone."""

    path: str
    meta_graphs: tuple[MetaGraphRecord, ...]
    has_variables: bool
    has_frozen_graph: bool

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def parse_saved_model(data: bytes, path: str):
    """Parses SavedModel bytes, text format if `path` ends in .pbtxt, else binary.

    Raises:
      SavedModelError: the bytes do not parse, or hold no MetaGraph.
    """
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    try:
        if path.endswith(".pbtxt"):
            text_format.Parse(data.decode("utf-8"), proto)
        else:
            proto.ParseFromString(data)
    except (message.DecodeError, text_format.ParseError, UnicodeDecodeError) as err:
        raise SavedModelError(f"{path}: corrupt SavedModel file: {tf_error_line(err)}") from None
    if not proto.meta_graphs:
        raise SavedModelError(f"{path}: corrupt SavedModel file: it holds no MetaGraph")
    return proto


def read_saved_model_proto(export_dir: str):
    """Parses `saved_model.pb` (or `.pbtxt`) of `export_dir`.

    Returns:
      a `SavedModel` proto.
    Raises:
      SavedModelError: the directory or file is missing, or the file does not parse.
    """
    if not os.path.isdir(export_dir):
        raise SavedModelError(f"{export_dir}: SavedModel directory does not exist")
    for name in (names.SAVED_MODEL_FILENAME_PB, names.SAVED_MODEL_FILENAME_PBTXT):
        path = os.path.join(export_dir, name)
        if os.path.isfile(path):
            with open(path, "rb") as stream:
                return parse_saved_model(stream.read(), path)
    raise SavedModelError(f"{export_dir}: no {names.SAVED_MODEL_FILENAME_PB} in the directory")


def inspect_saved_model(export_dir: str) -> SavedModelRecord:
    """Describes every MetaGraph and signature of a SavedModel, without loading it.

    Raises:
      SavedModelError: the directory is missing or corrupt.
    """
    proto = read_saved_model_proto(export_dir)
    meta_graphs = []
    for meta_graph in proto.meta_graphs:
        signatures = tuple(
            SignatureRecord(
                key=key, method_name=sig.method_name,
                inputs=_tensor_records(sig.inputs), outputs=_tensor_records(sig.outputs))
            for key, sig in sorted(meta_graph.signature_def.items()))
        assets = tuple(sorted(_asset_filenames(meta_graph)))
        meta_graphs.append(MetaGraphRecord(tuple(meta_graph.meta_info_def.tags), signatures, assets))
    return SavedModelRecord(
        path=os.path.abspath(export_dir),
        meta_graphs=tuple(meta_graphs),
        has_variables=os.path.isfile(os.path.join(export_dir, names.VARIABLES_DIRECTORY, "variables.index")),
        has_frozen_graph=os.path.isfile(os.path.join(export_dir, names.FROZEN_GRAPH_FILENAME)))


def format_saved_model(record: SavedModelRecord) -> str:
    """The record as text, laid out like `saved_model_cli show --all`."""
    contents = (f"variables: {'yes' if record.has_variables else 'no'}; "
                f"frozen graph: {'yes' if record.has_frozen_graph else 'no'}")
    lines = [f"SavedModel {record.path}", contents]
    for meta_graph in record.meta_graphs:
        lines.append("")
        lines.append(f"MetaGraphDef with tag-set: '{','.join(meta_graph.tags)}' contains the following "
                     "SignatureDefs:")
        for signature in meta_graph.signatures:
            lines.append("")
            lines.append(f"signature_def['{signature.key}']:")
            for role, tensors in (("inputs", signature.inputs), ("outputs", signature.outputs)):
                lines.append(f"  The given SavedModel SignatureDef contains the following {role}:")
                for tensor in tensors:
                    lines.append(f"    {role}['{tensor.key}'] tensor_info:")
                    lines.append(f"        dtype: {tensor.dtype}")
                    lines.append(f"        shape: {tensor.shape_text()}")
                    lines.append(f"        name: {tensor.name}")
            lines.append(f"  Method name is: {signature.method_name}")
        if meta_graph.assets:
            lines.append("")
            lines.append("Assets: " + ", ".join(meta_graph.assets))
    return "\n".join(lines)


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
    signatures = {key: SignatureRecord(key, sig.method_name, _tensor_records(sig.inputs),
                                       _tensor_records(sig.outputs))
                  for key, sig in matching[0].signature_def.items()}
    session = v1.Session(graph=tf.Graph(), config=config)
    try:
        with session.graph.as_default(), deprecation.silence():
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


def _asset_filenames(meta_graph) -> set[str]:
    """Asset file names, from the MetaGraph field (TF2) and the v1 Builder's collection."""
    from tensorflow.core.protobuf import meta_graph_pb2

    filenames = {asset.filename for asset in meta_graph.asset_file_def}
    collection = meta_graph.collection_def.get(_ASSETS_COLLECTION)
    for packed in collection.any_list.value if collection is not None else ():
        asset = meta_graph_pb2.AssetFileDef()
        if packed.Unpack(asset):
            filenames.add(asset.filename)
    return filenames


def _tensor_records(tensor_infos) -> tuple[TensorRecord, ...]:
    records = []
    for key, info in sorted(tensor_infos.items()):
        dtype = tf.dtypes.as_dtype(info.dtype).name
        if info.tensor_shape.unknown_rank:
            shape = None
        else:
            shape = tuple(None if dim.size < 0 else int(dim.size) for dim in info.tensor_shape.dim)
        records.append(TensorRecord(key, info.name, dtype, shape))
    return tuple(records)


