"""Hand-built example models, each a function returning a `GraphModel`."""
