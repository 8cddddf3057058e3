"""SavedModel protos in, records out: the one reader of a SavedModel directory, with no session.

    proto = read_saved_model("out/saved_model")    # the SavedModel proto (a directory or saved_model.pb)
    record = inspect_saved_model("out/saved_model")
    print(format_saved_model(record))               # graphkit.viz.reports, like saved_model_cli show --all

Every signature is listed, as `saved_model_cli show --all` lists them,
including those no session can run by key: TF2's `__saved_model_init_op`,
whose one "output" is an op rather than a tensor, and signatures with sparse
or composite tensors. `SignatureRecord.runnable` says which, and why not.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import re

from google.protobuf import message, text_format

from graphkit import constants as names
from graphkit.errors import SavedModelError, tf_error_line
from graphkit.graphs.names import op_name

# What a TensorInfo holds: one dense tensor, a sparse tensor's three tensors,
# a composite tensor's components, or (TF2's init signature) an op with no tensor.
ENCODING_DENSE = "dense"
ENCODING_SPARSE = "sparse"
ENCODING_COMPOSITE = "composite"
ENCODING_OP = "op"

# Data shards of a checkpoint: variables.data-00000-of-00002.
_SHARD = re.compile(r"\.data-(\d{5})-of-(\d{5})$")


@dataclasses.dataclass(frozen=True)
class TensorRecord:
    """One named input or output of a signature (a parsed TensorInfo) or of a model.

    Attributes:
      key: the signature key callers use (`x`).
      name: the graph tensor behind it (`x:0`); for a sparse tensor its values
        tensor, for an op-only entry the op's name; "" for a composite tensor.
      dtype: numpy-style dtype name (`float32`, `int64`, `string`); "invalid"
        when the TensorInfo gives none (DT_INVALID), "" when the source does not say.
      shape: dims with None for unknown ones, or None for an unknown rank.
      encoding: ENCODING_DENSE, ENCODING_SPARSE, ENCODING_COMPOSITE or ENCODING_OP.
    """

    key: str
    name: str
    dtype: str
    shape: tuple | None
    encoding: str = ENCODING_DENSE

    @property
    def op_name(self) -> str:
        """The name of the op that produces (or is) this tensor."""
        return op_name(self.name)

    @property
    def runnable(self) -> bool:
        """Whether a session can feed or fetch it by name: one dense tensor of a known dtype."""
        return self.encoding == ENCODING_DENSE and self.dtype not in ("", "invalid")

    def shape_text(self) -> str:
        """`(-1, 28, 28)` as saved_model_cli writes a shape; `unknown rank` when it is not known."""
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

    @property
    def runnable(self) -> bool:
        """Whether `run_signature` can run it: every input and output is a dense tensor."""
        return not self.why_not_runnable

    @property
    def why_not_runnable(self) -> str:
        """"" when runnable, else the reason, naming the first input or output at fault."""
        if self.key == names.INIT_OP_SIGNATURE_KEY:
            return "the SavedModel's initialiser, run when it loads"
        for role, tensors in (("input", self.inputs), ("output", self.outputs)):
            for tensor in tensors:
                if not tensor.runnable:
                    what = "an op, not a tensor" if tensor.encoding == ENCODING_OP else (
                        f"a {tensor.encoding} tensor" if tensor.encoding != ENCODING_DENSE else "of no dtype")
                    return f"{role} {tensor.key!r} is {what}"
        return ""


@dataclasses.dataclass(frozen=True)
class MetaGraphRecord:
    """One MetaGraph: its tag set, signatures, and asset file names."""

    tags: tuple[str, ...]
    signatures: tuple[SignatureRecord, ...]
    assets: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class SavedModelRecord:
    """What a SavedModel directory holds, read from its proto and file names alone.

    Attributes:
      path: the export directory (absolute).
      meta_graphs: one record per MetaGraph.
      has_variables: the variables index and every data shard it needs exist.
      has_frozen_graph: graphkit's `frozen_graph.pb` is there.
    """

    path: str
    meta_graphs: tuple[MetaGraphRecord, ...]
    has_variables: bool
    has_frozen_graph: bool

    def to_dict(self) -> dict:
        """The record as JSON-ready dicts; each signature also says whether it is runnable, and why not."""
        described = dataclasses.asdict(self)
        for meta_graph, record in zip(described["meta_graphs"], self.meta_graphs):
            for signature, signature_record in zip(meta_graph["signatures"], record.signatures):
                signature["runnable"] = signature_record.runnable
                signature["why_not_runnable"] = signature_record.why_not_runnable
        return described


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


def saved_model_file(path: str) -> str:
    """The `saved_model.pb` (or `.pbtxt`) file that `path` names or holds.

    Args:
      path: a SavedModel directory, or its `saved_model.pb` / `saved_model.pbtxt`.
    Raises:
      SavedModelError: nothing at `path`; a file other than saved_model.pb(txt);
        a directory without one.
    """
    if os.path.isdir(path):
        for name in names.SAVED_MODEL_FILENAMES:
            candidate = os.path.join(path, name)
            if os.path.isfile(candidate):
                return candidate
        raise SavedModelError(f"{path}: not a SavedModel directory (no {names.SAVED_MODEL_FILENAME_PB} "
                              f"or {names.SAVED_MODEL_FILENAME_PBTXT} in it)")
    if os.path.isfile(path):
        if os.path.basename(path) in names.SAVED_MODEL_FILENAMES:
            return path
        raise SavedModelError(f"{path}: is a file, not a SavedModel directory")
    raise SavedModelError(f"{path}: SavedModel directory does not exist")


def read_saved_model(path: str):
    """Parses the SavedModel at `path` (a directory or its saved_model.pb / .pbtxt).

    Returns:
      a `SavedModel` proto.
    Raises:
      SavedModelError: see `saved_model_file` and `parse_saved_model`.
    """
    file_path = saved_model_file(path)
    with open(file_path, "rb") as stream:
        return parse_saved_model(stream.read(), file_path)


def export_directory(path: str) -> str:
    """The export directory of `path`: itself, or the directory of its saved_model.pb."""
    return os.path.dirname(os.path.abspath(path)) if os.path.isfile(path) else path


def format_tags(tags) -> str:
    """`[serve,gpu]`: a tag set as messages show it."""
    return "[" + ",".join(sorted(tags)) + "]"


def parse_tags(tags) -> frozenset | None:
    """A tag set from "serve" / "serve,gpu" / a sequence of tags; None stays None.

    Raises:
      SavedModelError: no tag in it.
    """
    if tags is None:
        return None
    if isinstance(tags, str):
        tags = tags.split(",")
    tag_set = frozenset(tag.strip() for tag in tags if tag.strip())
    if not tag_set:
        raise SavedModelError(f"tags: expected at least one tag, got {tags!r}")
    return tag_set


def select_meta_graph(proto, tags, where: str):
    """The MetaGraph of `proto` with exactly the tag set `tags`.

    Args:
      tags: a tag set (see `parse_tags`); None: "serve", or the only tag set
        when the SavedModel has just one.
    Raises:
      SavedModelError: no MetaGraph has that tag set (the message lists those there are).
    """
    tag_set = parse_tags(tags)
    available = [frozenset(meta_graph.meta_info_def.tags) for meta_graph in proto.meta_graphs]
    if tag_set is None:
        default = frozenset(names.DEFAULT_TAGS)
        tag_set = default if default in available or len(available) != 1 else available[0]
    if tag_set not in available:
        listed = ", ".join(format_tags(tags) for tags in available)
        raise SavedModelError(f"{where}: no MetaGraph with tags {format_tags(tag_set)}; "
                              f"available tag sets: {listed}")
    return proto.meta_graphs[available.index(tag_set)]


def signature_records(meta_graph) -> dict[str, SignatureRecord]:
    """Signature key -> SignatureRecord, for every SignatureDef of a MetaGraph."""
    return {key: SignatureRecord(key, signature.method_name, tensor_records(signature.inputs),
                                 tensor_records(signature.outputs))
            for key, signature in sorted(meta_graph.signature_def.items())}


def inspect_saved_model(export_dir: str) -> SavedModelRecord:
    """Describes every MetaGraph and signature of a SavedModel, without loading it.

    Raises:
      SavedModelError: the directory is missing or corrupt, or the variables
        index is there but a data shard it needs is not.
    """
    proto = read_saved_model(export_dir)
    export_dir = export_directory(export_dir)
    meta_graphs = []
    for meta_graph in proto.meta_graphs:
        signatures = tuple(signature_records(meta_graph).values())
        assets = tuple(sorted(_asset_filenames(meta_graph)))
        meta_graphs.append(MetaGraphRecord(tuple(meta_graph.meta_info_def.tags), signatures, assets))
    return SavedModelRecord(
        path=os.path.abspath(export_dir),
        meta_graphs=tuple(meta_graphs),
        has_variables=check_variables(export_dir),
        has_frozen_graph=os.path.isfile(os.path.join(export_dir, names.FROZEN_GRAPH_FILENAME)))


def check_variables(export_dir: str) -> bool:
    """Whether the SavedModel has variables: their index and every data shard the shard names call for.

    Returns:
      False when there is no `variables/variables.index` (a model without variables).
    Raises:
      SavedModelError: the index is there but a data shard is missing.
    """
    prefix = os.path.join(export_dir, names.VARIABLES_DIRECTORY, names.VARIABLES_FILENAME)
    if not os.path.isfile(prefix + ".index"):
        return False
    shards = sorted(glob.glob(glob.escape(prefix) + ".data-*-of-*"))
    counts = {int(match.group(2)) for match in map(_SHARD.search, shards) if match}
    if not counts:
        raise SavedModelError(f"{prefix}.data-00000-of-00001: variables data file missing "
                              f"(the index is there, no data file)")
    for count in counts:
        for index in range(count):
            expected = f"{prefix}.data-{index:05d}-of-{count:05d}"
            if not os.path.isfile(expected):
                raise SavedModelError(f"{expected}: variables data file missing")
    return True


def captured_variables(meta_graph) -> dict[str, int]:
    """Handle op name -> object-graph node id of every variable a TF2 function call captures.

    A TF2 signature is a call op whose last inputs are the variable handles its
    function captures (`bound_inputs` of its concrete function, in order). Keras
    3 models saved with `tf.saved_model.save` read handles there that the v1
    restore op never fills (it restores other handles of the same objects);
    these ids say which checkpoint value belongs in each.
    """
    object_graph = meta_graph.object_graph_def
    variables = {index for index, node in enumerate(object_graph.nodes)
                 if node.WhichOneof("kind") == "variable"}
    bound = {name: list(function.bound_inputs) for name, function in object_graph.concrete_functions.items()}
    captured = {}
    for node in meta_graph.graph_def.node:
        ids = bound.get(node.attr["f"].func.name) if "f" in node.attr else None
        if not ids:
            continue
        data_inputs = [raw for raw in node.input if not raw.startswith("^")]
        for raw, node_id in zip(data_inputs[-len(ids):], ids):
            if node_id in variables:
                captured[op_name(raw)] = node_id
    return captured


def checkpoint_keys(object_graph_bytes: bytes, node_ids) -> dict[int, str]:
    """Object-graph node id -> checkpoint key of its value.

    Args:
      object_graph_bytes: the checkpoint's `_CHECKPOINTABLE_OBJECT_GRAPH` value.
      node_ids: ids of variable nodes (the SavedModel's object graph numbers them alike).
    """
    from tensorflow.core.protobuf import trackable_object_graph_pb2

    graph = trackable_object_graph_pb2.TrackableObjectGraph.FromString(object_graph_bytes)
    keys = {}
    for node_id in node_ids:
        attributes = graph.nodes[node_id].attributes if node_id < len(graph.nodes) else ()
        for attribute in attributes:
            if attribute.name == "VARIABLE_VALUE":
                keys[node_id] = attribute.checkpoint_key
    return keys


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


def tensor_record(key: str, info) -> TensorRecord:
    """One TensorInfo proto as a TensorRecord (never raises: DT_INVALID becomes "invalid")."""
    import tensorflow as tf

    dtype = tf.dtypes.as_dtype(info.dtype).name if info.dtype else "invalid"
    if info.tensor_shape.unknown_rank:
        shape = None
    else:
        shape = tuple(None if dim.size < 0 else int(dim.size) for dim in info.tensor_shape.dim)
    encoding = info.WhichOneof("encoding")
    if encoding == "coo_sparse":
        return TensorRecord(key, info.coo_sparse.values_tensor_name, dtype, shape, ENCODING_SPARSE)
    if encoding == "composite_tensor":
        return TensorRecord(key, "", dtype, shape, ENCODING_COMPOSITE)
    if ":" not in info.name and not info.dtype:
        return TensorRecord(key, info.name, dtype, shape, ENCODING_OP)
    return TensorRecord(key, info.name, dtype, shape, ENCODING_DENSE)


def tensor_records(tensor_infos) -> tuple[TensorRecord, ...]:
    """A map of TensorInfo protos as TensorRecords, sorted by key."""
    return tuple(tensor_record(key, info) for key, info in sorted(tensor_infos.items()))
