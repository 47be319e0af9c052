"""``keras.utils``: ``to_categorical``."""

import numpy as np


def to_categorical(x, num_classes=None):
    """One-hot rows (``float32``) for integer class labels, as Keras's ``to_categorical``."""
    x = np.asarray(x, dtype="int64")
    shape = x.shape
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    x = x.reshape(-1)
    if x.size and x.min() < 0:
        raise ValueError(f"to_categorical takes labels >= 0, got {x.min()}")
    if num_classes is None:
        num_classes = int(x.max()) + 1 if x.size else 0
    if x.size and x.max() >= num_classes:
        raise ValueError(f"label {x.max()} is out of range for num_classes={num_classes}")
    out = np.zeros((x.shape[0], num_classes), dtype="float32")
    out[np.arange(x.shape[0]), x] = 1
    return out.reshape(shape + (num_classes,))


def set_random_seed(seed):
    """Seeds every model's initialisation, shuffles and dropout from here on (and numpy's
    global generator, as Keras does)."""
    from . import models

    np.random.seed(seed)
    models._seeds = np.random.RandomState(seed)
