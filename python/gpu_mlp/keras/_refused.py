"""What Keras has and gpu-mlp does not build (``layers.Conv2D``, ``optimizers.RMSprop`` ...): a
module ``__getattr__`` that names it and what to use instead, rather than an AttributeError."""


def refuse_missing(module, what, use):
    """A module ``__getattr__`` for ``keras.<module>``: class names raise NotImplementedError."""

    def __getattr__(name):
        if name[:1].isupper():
            raise NotImplementedError(
                f"keras.{module}.{name} is not supported by gpu-mlp, which {what}; use {use}"
            )
        raise AttributeError(f"module 'gpu_mlp.keras.{module}' has no attribute {name!r}")

    return __getattr__
