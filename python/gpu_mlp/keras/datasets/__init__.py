"""``keras.datasets``: MNIST and Fashion-MNIST, found as ``gpu-mlp train`` finds them."""

from . import fashion_mnist, mnist

__all__ = ["fashion_mnist", "mnist"]
