"""SavedModel protos in, records out: what a SavedModel directory holds, with no session.

    record = inspect_saved_model("out/saved_model")
    print(format_saved_model(record))          # graphkit.viz.reports, like saved_model_cli show --all
"""

from __future__ import annotations

import dataclasses
import os

import tensorflow as tf
from google.protobuf import message, text_format

from graphkit import constants as names
from graphkit.errors import SavedModelError, tf_error_line


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
    for name in names.SAVED_MODEL_FILENAMES:
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
                inputs=tensor_records(sig.inputs), outputs=tensor_records(sig.outputs))
            for key, sig in sorted(meta_graph.signature_def.items()))
        assets = tuple(sorted(_asset_filenames(meta_graph)))
        meta_graphs.append(MetaGraphRecord(tuple(meta_graph.meta_info_def.tags), signatures, assets))
    return SavedModelRecord(
        path=os.path.abspath(export_dir),
        meta_graphs=tuple(meta_graphs),
        has_variables=os.path.isfile(os.path.join(export_dir, names.VARIABLES_DIRECTORY, "variables.index")),
        has_frozen_graph=os.path.isfile(os.path.join(export_dir, names.FROZEN_GRAPH_FILENAME)))


def _asset_filenames(meta_graph) -> set[str]:
    """Asset file names, from the MetaGraph field (TF2) and the v1 Builder's collection."""
    from tensorflow.core.protobuf import meta_graph_pb2

    filenames = {asset.filename for asset in meta_graph.asset_file_def}
    collection = meta_graph.collection_def.get(names.SAVED_MODEL_ASSETS_COLLECTION)
    for packed in collection.any_list.value if collection is not None else ():
        asset = meta_graph_pb2.AssetFileDef()
        if packed.Unpack(asset):
            filenames.add(asset.filename)
    return filenames


def tensor_records(tensor_infos) -> tuple[TensorRecord, ...]:
    records = []
    for key, info in sorted(tensor_infos.items()):
        dtype = tf.dtypes.as_dtype(info.dtype).name
        if info.tensor_shape.unknown_rank:
            shape = None
        else:
            shape = tuple(None if dim.size < 0 else int(dim.size) for dim in info.tensor_shape.dim)
        records.append(TensorRecord(key, info.name, dtype, shape))
    return tuple(records)
