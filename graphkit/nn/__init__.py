"""Neural-network functions over tensors: layers, recurrent layers, attention, losses, random bits.

Everything here builds ops in the default graph and never opens a Session:
`layers` (dense, dropout, conv2d, embedding, layer_norm, ...), `gru` (a GRU
cell from fused matmuls, and a GRU over padded sequences in a while loop),
`attention` (Bahdanau attention over a masked memory), `losses`
(cross-entropy, accuracy) and `random_bits` (cheap random words for masks).
Imports only `graphkit.errors` and TensorFlow.
"""
