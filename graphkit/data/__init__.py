"""Data: datasets as numpy arrays (download, checksum, cache) and the in-graph input pipeline.

`datasets` loads MNIST and Fashion-MNIST from a local copy, Debian's package or
a verified download; `pipeline` preloads arrays into the graph and gathers one
batch per step. Imports no other graphkit subpackage.
"""
