"""Writes a graph as a SavedModel: named signatures, variables, assets, frozen graph.

    with ModelSession(model) as ms:
        ms.fit(arrays, epochs=1)
        export_saved_model(ms.session, model, "out/saved_model", frozen=True)

The export knows no model: it takes a session and either a `GraphModel`
(whose `inputs`/`outputs` become the `serving_default` signature) or named
tensors in `signatures`. Model inputs may be `placeholder_with_default` over an
in-graph input pipeline: a caller that feeds them cuts the pipeline out,
and the frozen graph turns them into plain placeholders so that the pipeline is
pruned away. The export is atomic: it is built in a temporary directory next
to `export_dir` and renamed into place, so a reader never sees half a model.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence

import tensorflow as tf

from graphkit import constants as names
from graphkit.errors import SavedModelError, tf_error_line
from graphkit.files import atomic_write_bytes, replace_directory
from graphkit.models.graph_model import GraphModel
from graphkit.tf_private import silence_deprecations

v1 = tf.compat.v1

_UNSAFE_NODE_CHARS = re.compile(r"[^A-Za-z0-9_.\-/]")


@dataclasses.dataclass(frozen=True)
class Signature:
    """One SignatureDef to export: keys -> tensors of the session's graph.

    Attributes:
      inputs: signature key -> tensor a caller feeds (usually a placeholder).
      outputs: signature key -> tensor a caller fetches.
      method_name: the SignatureDef's method name (predict by default).
    """

    inputs: Mapping[str, tf.Tensor]
    outputs: Mapping[str, tf.Tensor]
    method_name: str = names.PREDICT_METHOD_NAME


SignatureLike = Signature | tuple


def export_saved_model(
    session: v1.Session,
    model: GraphModel | None,
    export_dir: str,
    signatures: Mapping[str, SignatureLike] | None = None,
    assets: Sequence[str] | None = None,
    frozen: bool = False,
    overwrite: bool = False,
    tags: Sequence[str] = names.DEFAULT_TAGS,
) -> str:
    """Exports the session's graph and variable values as a SavedModel.

    Args:
      session: a session over the graph, with every variable initialized or restored.
      model: its `inputs` and `outputs` become the `serving_default` signature;
        None to take every signature from `signatures`.
      export_dir: the SavedModel directory to create.
      signatures: signature key -> `Signature` (or an `(inputs, outputs)` pair),
        added beside (or replacing) `serving_default`.
      assets: paths of extra files to ship in `assets/` (e.g. `labels.txt`);
        files already in the graph's ASSET_FILEPATHS collection (vocabularies
        of `tf.lookup` tables) are shipped anyway.
      frozen: also write `frozen_graph.pb`: variables folded into constants,
        signature inputs made plain placeholders, pruned to the signature outputs.
      overwrite: replace an existing `export_dir`; otherwise it must not exist.
      tags: the tag set of the MetaGraph.
    Returns:
      the absolute path of the export directory.
    Raises:
      SavedModelError: no signature, a tensor from another graph, a missing
        asset file, or `export_dir` exists and `overwrite` is False.
    """
    export_dir = os.path.abspath(export_dir)
    graph = session.graph
    signature_map = _collect_signatures(graph, model, signatures)
    asset_paths = [os.path.abspath(path) for path in (assets or ())]
    for path in asset_paths:
        if not os.path.isfile(path):
            raise SavedModelError(f"{path}: asset file does not exist")
    if os.path.exists(export_dir) and not overwrite:
        raise SavedModelError(f"{export_dir}: already exists; pass overwrite=True to replace it")

    parent = os.path.dirname(export_dir)
    os.makedirs(parent, exist_ok=True)
    staging_root = tempfile.mkdtemp(prefix=f".{os.path.basename(export_dir)}.tmp-", dir=parent)
    try:
        staging_dir = os.path.join(staging_root, "model")
        try:
            with graph.as_default(), silence_deprecations():  # v1 SavedModel APIs warn on every call
                asset_tensors = list(v1.get_collection(v1.GraphKeys.ASSET_FILEPATHS))
                asset_tensors += [_asset_path_tensor(graph, path) for path in asset_paths]
                builder = v1.saved_model.Builder(staging_dir)
                builder.add_meta_graph_and_variables(
                    session, list(tags),
                    signature_def_map={key: _signature_def(sig) for key, sig in signature_map.items()},
                    assets_collection=asset_tensors or None,
                    main_op=_table_initializer(graph),
                    strip_default_attrs=True)
                builder.save()
        except tf.errors.OpError as err:  # e.g. a variable that was never initialized
            raise SavedModelError(f"{export_dir}: cannot save the session's variables: "
                                  f"{tf_error_line(err)}") from None
        if frozen:
            frozen_def = freeze_graph_def(session, signature_map.values())
            atomic_write_bytes(os.path.join(staging_dir, names.FROZEN_GRAPH_FILENAME),
                               frozen_def.SerializeToString())
        replace_directory(staging_dir, export_dir)
    finally:
        shutil.rmtree(staging_root, ignore_errors=True)
    return export_dir


def freeze_graph_def(session: v1.Session, signatures: Sequence[Signature]) -> tf.compat.v1.GraphDef:
    """The graph with variables folded to constants, pruned to the signatures.

    Each signature input becomes a plain `Placeholder` (a placeholder_with_default
    loses its default), so nothing upstream of an input, such as an in-graph
    input pipeline, survives the pruning.

    Args:
      session: a session holding the variable values.
      signatures: the signatures whose outputs are kept.
    Returns:
      a GraphDef with no variables; tensor names equal the original graph's.
    """
    graph_def = session.graph.as_graph_def()
    input_ops = {tensor.op.name for sig in signatures for tensor in sig.inputs.values()}
    output_ops = sorted({tensor.op.name for sig in signatures for tensor in sig.outputs.values()})
    for node in graph_def.node:
        if node.name in input_ops and node.op == "PlaceholderWithDefault":
            dtype, shape = node.attr["dtype"], node.attr["shape"]
            node.op = "Placeholder"
            del node.input[:]
            node.attr.clear()
            node.attr["dtype"].CopyFrom(dtype)
            node.attr["shape"].CopyFrom(shape)
    with silence_deprecations():
        pruned = v1.graph_util.extract_sub_graph(graph_def, output_ops)
        return v1.graph_util.convert_variables_to_constants(session, pruned, output_ops)


def _collect_signatures(graph: tf.Graph, model: GraphModel | None,
                        signatures: Mapping[str, SignatureLike] | None) -> dict[str, Signature]:
    signature_map: dict[str, Signature] = {}
    if model is not None:
        if model.graph is not graph:
            raise SavedModelError("export: the model's graph is not the session's graph")
        signature_map[names.DEFAULT_SIGNATURE_KEY] = Signature(dict(model.inputs), dict(model.outputs))
    for key, value in (signatures or {}).items():
        signature = value if isinstance(value, Signature) else Signature(*value)
        signature_map[key] = signature
    if not signature_map:
        raise SavedModelError("export: no signature; pass a GraphModel or signatures={key: Signature}")
    for key, signature in signature_map.items():
        if not signature.outputs:
            raise SavedModelError(f"signature {key!r}: needs at least one output")
        for role, tensors in (("inputs", signature.inputs), ("outputs", signature.outputs)):
            for name, tensor in tensors.items():
                if getattr(tensor, "graph", None) is not graph:
                    raise SavedModelError(
                        f"signature {key!r} {role}[{name!r}]: {getattr(tensor, 'name', tensor)} "
                        "is not a tensor of the session's graph")
    return signature_map


def _signature_def(signature: Signature):
    build = v1.saved_model.utils.build_tensor_info
    return v1.saved_model.signature_def_utils.build_signature_def(
        inputs={key: build(tensor) for key, tensor in signature.inputs.items()},
        outputs={key: build(tensor) for key, tensor in signature.outputs.items()},
        method_name=signature.method_name)


def _asset_path_tensor(graph: tf.Graph, path: str) -> tf.Tensor:
    """A string constant holding `path`, for this export's asset list.

    The SavedModel loader feeds this tensor the file's new place inside
    `assets/`. It is not added to the graph's ASSET_FILEPATHS collection, so a
    later export of the same graph ships only the assets it is given; a
    constant made earlier for the same path is reused.
    """
    for op in graph.get_operations():
        if (op.type == "Const" and op.name.startswith(f"{names.ASSET_PATH_SCOPE}/")
                and op.get_attr("value").string_val == [path.encode()]):
            return op.outputs[0]
    node_name = f"{names.ASSET_PATH_SCOPE}/{_UNSAFE_NODE_CHARS.sub('_', os.path.basename(path))}"
    with graph.as_default():
        return tf.constant(path, name=node_name)


def _table_initializer(graph: tf.Graph) -> tf.Operation | None:
    """The op that fills the graph's lookup tables at load time, if it has any."""
    if not v1.get_collection(v1.GraphKeys.TABLE_INITIALIZERS):
        return None
    existing = graph.get_operations()
    found = [op for op in existing if op.name == "graphkit_main_op"]
    return found[0] if found else v1.tables_initializer(name="graphkit_main_op")
