"""Serving: SavedModel export, and the C++ program that loads and runs it.

`export` writes a SavedModel (signatures, variables, assets, frozen graph) from
a session it is given; `cpp_build` compiles `graphkit-run` (the CMake project in
`graphkit/cpp`) against the installed TensorFlow; `cpp_run` runs it and compares
its outputs with Python's. Loading a SavedModel into a session is
`graphkit.runtime.saved_model`, since only the runtime opens sessions.
"""
