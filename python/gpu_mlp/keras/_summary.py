"""A model's table (``summary()``), and a model rebuilt from a checkpoint (``load_model``)."""

import json

import numpy as np

from . import layers as _layers
from . import losses as _losses
from . import optimizers as _optimizers


def _size(n):
    b = n * 4
    for unit in ("B", "KB", "MB", "GB"):
        if b < 1024 or unit == "GB":
            return f"{b:.2f} {unit}"
        b /= 1024


def summary_lines(model):
    """Keras 3's summary table, line by line."""
    rows = []
    shape = tuple(model._input_shape)
    weights = model.get_weights()
    dense_i = 0
    for layer in model.layers:
        params = 0
        if isinstance(layer, _layers.Flatten):
            shape = (int(np.prod(shape)),)
        elif isinstance(layer, _layers.Dense):
            shape = (layer.units,)
            params = weights[2 * dense_i].size + weights[2 * dense_i + 1].size
            dense_i += 1
        out = "(None, " + ", ".join(str(s) for s in shape) + ")"
        rows.append((f"{layer.name} ({type(layer).__name__})", out, f"{params:,}"))
    widths = (33, 24, 15)
    top = "┏" + "┳".join("━" * w for w in widths) + "┓"
    head = "┃" + "┃".join(
        f" {t:<{w - 2}} " if i < 2 else f" {t:>{w - 2}} "
        for i, (t, w) in enumerate(zip(("Layer (type)", "Output Shape", "Param #"), widths))
    ) + "┃"
    sep = "┡" + "╇".join("━" * w for w in widths) + "┩"
    bottom = "└" + "┴".join("─" * w for w in widths) + "┘"
    lines = [f'Model: "{model.name}"', top, head, sep]
    for i, row in enumerate(rows):
        lines.append(
            "│"
            + "│".join(
                f" {t:<{w - 2}} " if j < 2 else f" {t:>{w - 2}} "
                for j, (t, w) in enumerate(zip(row, widths))
            )
            + "│"
        )
        if i + 1 < len(rows):
            lines.append("├" + "┼".join("─" * w for w in widths) + "┤")
    total = sum(w.size for w in weights)
    lines += [
        bottom,
        f" Total params: {total:,} ({_size(total)})",
        f" Trainable params: {total:,} ({_size(total)})",
        " Non-trainable params: 0 (0.00 B)",
    ]
    return lines


def rebuilt(network, compile=True):
    """A ``Sequential`` around a loaded network: its layers as Keras would list them."""
    from .models import Sequential

    meta = json.loads(network.metadata.get("keras", "{}") or "{}")
    rows, cols = network.input_shape
    channels = network.channels
    image = [rows, cols] + ([channels] if channels > 1 else [])
    default_shape = image if rows > 1 else [network.inputs]
    shape = tuple(meta.get("input_shape") or default_shape)
    layers = [_layers.Input(shape=shape)]
    if len(shape) > 1:
        layers.append(_layers.Flatten())
    if meta.get("rescale"):
        layers.append(_layers.Rescaling(1.0 / 255))
    for units in network.hidden:
        layers.append(_layers.Dense(units, activation="relu"))
        if network.dropout:
            layers.append(_layers.Dropout(network.dropout))
    logits = meta.get("output") == "logits"
    layers.append(_layers.Dense(network.classes, activation=None if logits else "softmax"))
    model = Sequential(layers)
    model._own_network = network
    model.build()
    loss = meta.get("loss")
    if compile and loss:
        settings = meta.get("optimizer") or {}
        kind = settings.get("optimizer_name", "adam")
        optimizer = _optimizers.get(kind)
        optimizer.learning_rate = settings.get("lr", optimizer.learning_rate)
        for key in ("beta_1", "beta_2", "epsilon", "weight_decay"):
            if key in settings:
                setattr(optimizer, key, settings[key])
        loss_class = getattr(_losses, loss.get("class", "SparseCategoricalCrossentropy"))
        model.compile(
            optimizer=optimizer,
            loss=loss_class(from_logits=loss.get("from_logits", False)),
            metrics=meta.get("metrics") or None,
        )
    return model
