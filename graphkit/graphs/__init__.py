"""Graph protos in, records out: no Session runs here.

`load` reads a graph from any source (SavedModel, GraphDef, MetaGraph, tf.Graph,
GraphModel); `write` writes GraphDefs; `saved_model` is the one reader of a
SavedModel directory (signatures as TensorRecords); `names` parses node and
tensor names; `inline` replaces function calls by their bodies; `work_span`
computes static parallelism; `step_stats` parses what a traced run recorded.
Imports `graphkit.models` (the `GraphModel` record) and lower; never `runtime`.
"""
