"""``tf.nn``'s activations, for ``Dense(128, activation=tf.nn.relu)``. Calling one applies it to
a numpy array, as TensorFlow's do to a tensor."""

import numpy as np

from ._tensor import tensor


def relu(x):
    """max(x, 0)."""
    return tensor(np.maximum(np.asarray(x), 0))


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along ``axis``, computed stably."""
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return tensor(e / e.sum(axis=axis, keepdims=True))


relu.__gpu_mlp_activation__ = "relu"
softmax.__gpu_mlp_activation__ = "softmax"
