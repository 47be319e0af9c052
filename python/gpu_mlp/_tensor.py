"""What TensorFlow code calls ``.numpy()`` on (a model's output, a loss's value): a numpy array
that also answers ``.numpy()``."""

import numpy as np


class Tensor(np.ndarray):
    """A numpy array with TensorFlow's ``.numpy()``."""

    def numpy(self):
        return np.asarray(self)


def tensor(x):
    """``x`` as a ``Tensor`` (a view, no copy)."""
    return np.asarray(x).view(Tensor)
