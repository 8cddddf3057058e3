"""Neural-network functions over tensors: layers, losses, random bits.

Everything here builds ops in the default graph and never opens a Session:
`layers` (dense, dropout, conv2d, embedding, layer_norm, ...), `losses`
(cross-entropy, accuracy) and `random_bits` (cheap random words for masks).
Imports only `graphkit.errors` and TensorFlow.
"""
