"""The runtime: the only package that creates Sessions (and, later, servers).

`configs` builds every ConfigProto; `feeds` checks arrays against placeholders;
`model_session` trains, evaluates and checkpoints a GraphModel; `saved_model`
loads a SavedModel and runs its signatures; `tracing` runs with FULL_TRACE;
`inputs` opens a graph file for a traced run with random inputs.
Imports `graphs`, `models`, `data`, `nn` and lower.
"""
