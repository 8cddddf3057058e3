"""Models: `GraphModel` (a graph plus its named tensors) and the hand-built example models.

Each example model is a function returning a `GraphModel`. Imports `nn`, `data` and lower.
"""
