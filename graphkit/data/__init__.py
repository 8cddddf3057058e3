"""Data: datasets as numpy arrays (download, checksum, cache) and the in-graph input pipeline.

`datasets` loads MNIST and Fashion-MNIST from a local copy, Debian's package or
a verified download; `pipeline` preloads arrays into the graph and gathers one
batch per step. For translation, `spa_eng` reads and preprocesses the tutorial's
Spanish-English pairs, `vocabulary` turns words into ids and files, `text_batches`
pads and buckets id sequences, and `text_graph` tokenises inside the graph.
Imports no other graphkit subpackage.
"""
