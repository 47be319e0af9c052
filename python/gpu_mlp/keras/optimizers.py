"""``keras.optimizers``: Adam, AdamW and plain SGD with Keras's defaults and formulas."""

from ._refused import refuse_missing

_REFUSED = ("clipnorm", "clipvalue", "global_clipnorm", "use_ema", "loss_scale_factor")


class Optimizer:
    """What gpu-mlp's engines need to know of an optimizer."""

    kind = "adam"

    def __init__(self, learning_rate, name=None, **kwargs):
        for arg in _REFUSED:
            if kwargs.pop(arg, None) not in (None, False):
                raise ValueError(f"{type(self).__name__}: {arg} is not supported by gpu-mlp")
        kwargs.pop("ema_momentum", None), kwargs.pop("ema_overwrite_frequency", None)
        kwargs.pop("gradient_accumulation_steps", None)
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unknown argument(s) {sorted(kwargs)}")
        if not isinstance(learning_rate, (int, float)) or not learning_rate > 0:
            raise ValueError(
                f"{type(self).__name__}: learning_rate must be a positive number (schedules are "
                f"not supported by gpu-mlp), got {learning_rate!r}"
            )
        self.learning_rate = float(learning_rate)
        self.name = name or self.kind
        self.beta_1, self.beta_2, self.epsilon, self.weight_decay = 0.9, 0.999, 1e-7, 0.0

    def settings(self):
        """The arguments ``Network.fit`` takes for this optimizer."""
        return {
            "optimizer_name": self.kind,
            "lr": self.learning_rate,
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "weight_decay": self.weight_decay,
        }

    def get_config(self):
        return {"name": self.name, **self.settings()}


class Adam(Optimizer):
    """Adam with Keras's step (bias correction folded into the step size)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, weight_decay=None, name="adam", **kwargs):
        super().__init__(learning_rate, name, **kwargs)
        if amsgrad:
            raise ValueError("Adam: amsgrad=True is not supported by gpu-mlp")
        if weight_decay:
            raise ValueError("Adam: use AdamW for weight decay (gpu-mlp's decay is decoupled)")
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)


class AdamW(Adam):
    """Adam with decoupled weight decay: ``w -= lr * weight_decay * w`` before each step."""

    kind = "adamw"

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, amsgrad=False, name="adamw", **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, None, name, **kwargs)
        self.weight_decay = float(weight_decay)


class SGD(Optimizer):
    """Plain stochastic gradient descent, ``w -= learning_rate * g`` (no momentum)."""

    kind = "sgd"

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None,
                 name="SGD", **kwargs):
        super().__init__(learning_rate, name, **kwargs)
        if momentum or nesterov:
            raise ValueError("SGD: momentum and nesterov are not supported by gpu-mlp")
        if weight_decay:
            raise ValueError("SGD: weight_decay is not supported by gpu-mlp (use AdamW)")


_BY_NAME = {"adam": Adam, "adamw": AdamW, "sgd": SGD}


def get(identifier):
    """An optimizer from a name (``'adam'``, ``'adamw'``, ``'sgd'``) or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise ValueError(
        f"optimizer={identifier!r} is not supported by gpu-mlp; use 'adam', 'adamw' or 'sgd'"
    )


__getattr__ = refuse_missing(
    "optimizers",
    "trains with Adam, AdamW or plain SGD",
    "Adam, AdamW or SGD",
)
