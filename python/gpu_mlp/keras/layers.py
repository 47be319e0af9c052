"""``keras.layers``: the layers a dense classifier is made of. They hold their settings only; a
``Sequential`` turns the list into gpu-mlp's network (see ``models``), refusing what it cannot
build with a message naming the layer and the argument."""

import collections

import numpy as np

from ._refused import refuse_missing

_counts = collections.Counter()


def _unique_name(base):
    """``dense``, then ``dense_1``, ``dense_2`` ... (one count per kind, as Keras names)."""
    n = _counts[base]
    _counts[base] += 1
    return base if n == 0 else f"{base}_{n}"


class Layer:
    """What every layer has: a name, and the input shape it may declare."""

    def __init__(self, name=None, input_shape=None, input_dim=None, **kwargs):
        unknown = set(kwargs) - {"dtype", "trainable", "batch_input_shape"}
        if unknown:
            raise TypeError(
                f"{type(self).__name__}: argument(s) {sorted(unknown)} are not supported by "
                "gpu-mlp"
            )
        if kwargs.get("trainable") is False:
            raise ValueError(f"{type(self).__name__}: trainable=False is not supported")
        base = "".join(
            "_" + c.lower() if c.isupper() and i else c.lower()
            for i, c in enumerate(type(self).__name__)
        )
        self.name = name or _unique_name(base)
        if input_dim is not None:
            input_shape = (input_dim,)
        if kwargs.get("batch_input_shape") is not None:
            input_shape = tuple(kwargs["batch_input_shape"])[1:]
        self.input_shape = None if input_shape is None else tuple(input_shape)
        self._model = None

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"

    def get_weights(self):
        """This layer's weights as Keras lists them (``[kernel, bias]`` for a ``Dense``)."""
        return self._model._layer_weights(self) if self._model is not None else []

    def count_params(self):
        return sum(int(np.prod(w.shape)) for w in self.get_weights())


class InputLayer(Layer):
    """The model's input: ``shape`` without the batch dimension."""

    def __init__(self, shape=None, batch_size=None, name=None, **kwargs):
        shape = kwargs.pop("input_shape", shape)
        if shape is None:
            raise ValueError("Input: give the input's shape, e.g. Input(shape=(28, 28))")
        super().__init__(name=name, input_shape=shape, **kwargs)
        self.shape = (None,) + tuple(shape)


def Input(shape=None, batch_size=None, name=None, dtype=None, **kwargs):
    """The input of a model: ``Input(shape=(28, 28))`` as the first item of a ``Sequential``."""
    return InputLayer(shape=shape, batch_size=batch_size, name=name, **kwargs)


class Flatten(Layer):
    """Makes each sample one row of values (gpu-mlp's networks always read rows)."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)


class Rescaling(Layer):
    """``Rescaling(1. / 255)`` as the first layer: 8-bit pixels stay packed on their way to the
    engine, which scales them as it reads them (the only scale gpu-mlp builds)."""

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        if offset != 0 or abs(float(scale) * 255 - 1) > 1e-6:
            raise ValueError(
                f"Rescaling '{self.name}': only Rescaling(1/255) (offset 0) is supported by "
                f"gpu-mlp, got scale={scale}, offset={offset}"
            )
        self.scale, self.offset = float(scale), float(offset)


class Dense(Layer):
    """A fully connected layer: ``units`` outputs, ``activation`` ``'relu'`` (hidden layers),
    ``'softmax'`` or ``None`` (the output). Glorot-uniform kernel and zero bias, as Keras's
    defaults; other initialisers and regularisers are refused."""

    def __init__(
        self,
        units,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"Dense '{self.name}': units must be a positive int, got {units!r}")
        self.units = int(units)
        self.activation = activation
        refused = {
            "use_bias": (use_bias, True),
            "kernel_initializer": (kernel_initializer, "glorot_uniform"),
            "bias_initializer": (bias_initializer, "zeros"),
            "kernel_regularizer": (kernel_regularizer, None),
            "bias_regularizer": (bias_regularizer, None),
            "activity_regularizer": (activity_regularizer, None),
            "kernel_constraint": (kernel_constraint, None),
            "bias_constraint": (bias_constraint, None),
        }
        for arg, (value, default) in refused.items():
            if value != default:
                raise ValueError(
                    f"Dense '{self.name}': {arg}={value!r} is not supported by gpu-mlp "
                    f"(only {arg}={default!r})"
                )


class Dropout(Layer):
    """Inverted dropout at ``rate`` while training. gpu-mlp applies one rate after every hidden
    layer, so a model's ``Dropout`` layers must follow each hidden ``Dense`` with one rate."""

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"Dropout '{self.name}': rate must be in [0, 1), got {rate}")
        if noise_shape is not None:
            raise ValueError(f"Dropout '{self.name}': noise_shape is not supported by gpu-mlp")
        self.rate = float(rate)


class Activation(Layer):
    """An activation on its own: ``'relu'`` after a hidden ``Dense``, ``'softmax'`` at the end."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activation


class ReLU(Activation):
    """``Activation('relu')``."""

    def __init__(self, **kwargs):
        super().__init__("relu", **kwargs)


class Softmax(Activation):
    """``Activation('softmax')`` over the last axis (the only axis gpu-mlp's output has)."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__("softmax", **kwargs)
        if axis != -1:
            raise ValueError(f"Softmax '{self.name}': only axis=-1 is supported")


__getattr__ = refuse_missing(
    "layers",
    "trains dense networks",
    "Input, Flatten, Rescaling, Dense, Dropout, Activation, ReLU or Softmax",
)
