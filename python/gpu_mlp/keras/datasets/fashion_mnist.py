"""``keras.datasets.fashion_mnist``: the same arrays Keras's ``load_data()`` returns."""

from ... import _core


def load_data(path=None):
    """``((x_train, y_train), (x_test, y_test))``: ``uint8`` images ``(n, 28, 28)`` and
    ``uint8`` labels, from ``GPU_MLP_DATA``, gpu-mlp's cache or a system copy (downloaded into
    the cache when found nowhere). ``path`` is accepted for Keras's signature and not used."""
    return _core.load_known("fashion-mnist")
