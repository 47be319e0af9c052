"""A ``Sequential``'s layers as gpu-mlp's network: hidden ReLU widths, one dropout rate, the
classes, and whether the output is softmax probabilities or logits. Whatever else a list of
layers says is refused, naming the layer that says it."""

from dataclasses import dataclass, field

from . import activations, layers


@dataclass
class Structure:
    hidden: list
    classes: int
    dropout: float
    logits: bool
    # Each hidden Dense and the output Dense, in order.
    dense: list = field(default_factory=list)
    # Values are multiplied by 1/255 before the network (a Rescaling(1/255) first layer).
    rescale: bool = False


def _described(layer):
    return f"{type(layer).__name__} '{layer.name}'"


def structure(layer_list):
    """The network a list of layers makes (no ``InputLayer`` in it)."""
    dense, acts, drops = [], [], []
    rescale = False
    for i, layer in enumerate(layer_list):
        if isinstance(layer, layers.Flatten):
            if dense:
                raise ValueError(f"{_described(layer)}: Flatten must come before every Dense")
        elif isinstance(layer, layers.Rescaling):
            if dense or i > 1 or rescale:
                raise ValueError(f"{_described(layer)}: Rescaling must be the first layer")
            rescale = True
        elif isinstance(layer, layers.Dense):
            dense.append(layer)
            acts.append(activations.name_of(layer.activation, _described(layer)))
            drops.append(None)
        elif isinstance(layer, layers.Activation):
            kind = activations.name_of(layer.activation, _described(layer))
            if not dense or acts[-1] is not None or drops[-1] is not None:
                raise ValueError(
                    f"{_described(layer)}: gpu-mlp builds an Activation only right after a "
                    "Dense without one (Dense(..., activation=None), then Activation)"
                )
            acts[-1] = kind
        elif isinstance(layer, layers.Dropout):
            if not dense or drops[-1] is not None:
                raise ValueError(
                    f"{_described(layer)}: gpu-mlp applies dropout only after a hidden Dense "
                    "layer, once"
                )
            drops[-1] = (layer.rate, layer)
        elif isinstance(layer, layers.InputLayer):
            raise ValueError(f"{_described(layer)}: Input must be the first layer")
        else:
            raise ValueError(f"{_described(layer)}: gpu-mlp cannot build this layer")
    if not dense:
        raise ValueError("the model has no Dense layer; add Dense(classes) at the end")
    for layer, act in zip(dense[:-1], acts[:-1]):
        if act != "relu":
            raise ValueError(
                f"{_described(layer)}: a hidden layer with activation {act!r} cannot be built "
                "by gpu-mlp; hidden layers use activation='relu'"
            )
    out, out_act = dense[-1], acts[-1]
    if out_act not in ("softmax", None):
        raise ValueError(
            f"{_described(out)}: the output layer's activation {out_act!r} cannot be built; "
            "use 'softmax' (or None with a loss from_logits=True)"
        )
    if drops[-1] is not None:
        raise ValueError(
            f"{_described(drops[-1][1])}: dropout after the output layer cannot be built"
        )
    rates = {d[0] if d else 0.0 for d in drops[:-1]}
    if len(rates) > 1:
        raise ValueError(
            "gpu-mlp applies one dropout rate after every hidden layer; this model's hidden "
            f"layers have rates {sorted(rates)} ("
            + ", ".join(
                f"'{layer.name}': {d[0] if d else 0.0}" for layer, d in zip(dense[:-1], drops)
            )
            + ")"
        )
    if out.units < 2:
        raise ValueError(
            f"{_described(out)}: gpu-mlp trains softmax classifiers of at least 2 classes; use "
            "Dense(2, activation='softmax') with a cross-entropy loss for two classes"
        )
    return Structure(
        hidden=[d.units for d in dense[:-1]],
        classes=out.units,
        dropout=rates.pop() if rates else 0.0,
        logits=out_act is None,
        dense=dense,
        rescale=rescale,
    )


def needs_flatten(layer_list, input_shape):
    """Refuses a ``Dense`` that would get more than one axis of input without a ``Flatten``."""
    if input_shape is None or len(input_shape) < 2:
        return
    for layer in layer_list:
        if isinstance(layer, layers.Flatten):
            return
        if isinstance(layer, layers.Dense):
            raise ValueError(
                f"{_described(layer)} gets inputs of shape {tuple(input_shape)}; gpu-mlp's "
                "networks read rows: put Flatten() before it"
            )
