"""The dense subset of Keras 3, trained by gpu-mlp: ``Sequential`` of ``Flatten``, ``Dense``
(ReLU hidden layers, a softmax or logits output), ``Dropout``, ``Activation``, ``Softmax``;
the cross-entropy losses; ``Adam``, ``SGD``, ``AdamW``; ``EarlyStopping`` and
``ModelCheckpoint``; MNIST and Fashion-MNIST. ``import gpu_mlp as tf`` then ``tf.keras....``,
or ``from gpu_mlp.keras.models import Sequential``, stand in for TensorFlow's and Keras's.
What gpu-mlp cannot build (a Conv2D, a tanh hidden layer ...) raises an error naming it."""

from . import activations, callbacks, datasets, layers, losses, metrics, models, optimizers, utils
from .layers import Input
from .models import Model, Sequential

__all__ = [
    "Input",
    "Model",
    "Sequential",
    "activations",
    "callbacks",
    "datasets",
    "layers",
    "losses",
    "metrics",
    "models",
    "optimizers",
    "utils",
]
