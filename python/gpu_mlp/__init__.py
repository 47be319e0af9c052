"""gpu-mlp for Python: train multilayer-perceptron classifiers on any GPU (Vulkan, Metal, DX12)
or on gpu-mlp's fast CPU engine, with the code you already have.

- ``gpu_mlp.MLPClassifier``: a scikit-learn estimator with scikit-learn's parameter names.
- ``gpu_mlp.keras``: the dense subset of Keras 3 (``Sequential``, ``layers.Dense`` ...), so
  ``import gpu_mlp as tf`` makes a TensorFlow tutorial's ``tf.keras`` code run.
- ``gpu_mlp.load(path)``: a checkpoint written by ``gpu-mlp train`` or by this package.

Models are saved as the same safetensors checkpoints the ``gpu-mlp`` command line reads.
"""

from . import _core
from . import nn, random
from . import keras
from .keras.models import load_model as load

__version__ = _core.__version__

__all__ = ["MLPClassifier", "keras", "load", "nn", "random"]


def __getattr__(name):
    # scikit-learn is only needed by those who use the estimator.
    if name == "MLPClassifier":
        from .estimator import MLPClassifier

        return MLPClassifier
    raise AttributeError(f"module 'gpu_mlp' has no attribute {name!r}")
