"""Activation names and functions (``'relu'``, ``'softmax'``, ``tf.nn.relu`` ...)."""

from .. import nn

relu = nn.relu
softmax = nn.softmax

_NAMES = {None: None, "linear": None, "relu": "relu", "softmax": "softmax"}


def name_of(activation, where):
    """``'relu'``, ``'softmax'`` or ``None`` (linear) for an ``activation=`` argument; anything
    else is refused naming ``where`` (the layer)."""
    if callable(activation) and hasattr(activation, "__gpu_mlp_activation__"):
        return activation.__gpu_mlp_activation__
    key = activation.lower() if isinstance(activation, str) else activation
    if isinstance(key, str) or key is None:
        if key in _NAMES:
            return _NAMES[key]
    shown = getattr(activation, "__name__", activation)
    raise ValueError(
        f"{where}: activation={shown!r} cannot be built by gpu-mlp; use 'relu' for hidden "
        "layers and 'softmax' (or None with from_logits=True) for the output"
    )


def get(identifier):
    """The activation function named ``identifier``."""
    kind = name_of(identifier, "activations.get")
    return {"relu": relu, "softmax": softmax, None: lambda x: x}[kind]
