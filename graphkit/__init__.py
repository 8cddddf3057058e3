"""graphkit: TensorFlow dataflow graphs built by hand, made tangible.

Models are plain `tf.compat.v1` graphs (placeholders, variables, sessions), held
in a `GraphModel`; graphkit trains, draws, places, traces, compiles and exports
them. graphkit never disables eager execution globally, so it lives beside
eager code in one process.
"""

__version__ = "0.1.0"
