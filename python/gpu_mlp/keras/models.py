"""``keras.models``: ``Sequential`` (``compile``, ``fit``, ``evaluate``, ``predict``, ``summary``,
``save``, ``get_weights``/``set_weights``) and ``load_model``, trained by gpu-mlp's engines.

Models are saved as the safetensors checkpoints ``gpu-mlp eval``, ``predict`` and ``draw``
read, whatever the file's extension (``model.keras`` too). A model trained on images with values
in [0, 1] (``x / 255``) is recorded as taking pixels scaled by 1/255, so the command line feeds
it pictures as training fed it."""

import json
import math

import numpy as np

from .. import _core
from .._arrays import rows as _as_rows
from .._arrays import seed_of
from .._tensor import tensor
from . import callbacks as _callbacks
from . import layers as _layers
from . import losses as _losses
from . import optimizers as _optimizers
from ._progress import Progbar, epoch_header
from ._structure import needs_flatten, structure

_ACCURACY_NAMES = ("accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy")
_INV_255 = np.float32(1.0 / 255.0)
# Set by keras.utils.set_random_seed: model initialisation and shuffles draw their seeds here.
_seeds = None


def _seed():
    return seed_of(_seeds)


def _metric_names(metrics):
    names = []
    for m in metrics or []:
        name = m if isinstance(m, str) else getattr(m, "name", None)
        if name not in _ACCURACY_NAMES:
            raise ValueError(
                f"metric {m!r} is not supported by gpu-mlp; use 'accuracy' (or "
                "'sparse_categorical_accuracy' / 'categorical_accuracy')"
            )
        names.append(name)
    return names


def _image_shape(shape):
    """``(rows, cols, channels)`` the checkpoint records for a sample shape."""
    if len(shape) == 2:
        return shape[0], shape[1], 1
    if len(shape) == 3 and shape[2] in (1, 3):
        return shape[0], shape[1], shape[2]
    return 1, int(np.prod(shape)), 1


class Sequential:
    """A stack of layers, built into gpu-mlp's network on first use (``Input``, the first
    layer's ``input_shape``, or the first data it sees gives the input shape)."""

    def __init__(self, layers=None, name=None, trainable=True):
        self.name = name or _layers._unique_name("sequential")
        self.layers = []
        self._input_shape = None
        self._inner = None
        self._own_network = None
        self._structure = None
        self._loss = None
        self._optimizer = None
        self._metrics = []
        self.stop_training = False
        self._snapshot = None
        self._twin = None
        self.history = None
        for layer in layers or []:
            self.add(layer)

    # --------------------------------------------------------------------------- building

    def add(self, layer):
        """Appends a layer (or, first, another ``Sequential`` whose weights this one shares)."""
        if self._structure is not None:
            raise ValueError(f"{self.name}: layers cannot be added once the model is built")
        if isinstance(layer, Sequential):
            if self.layers or self._inner is not None:
                raise ValueError("gpu-mlp builds a Sequential inside a Sequential only first")
            self._inner = layer
            self._input_shape = layer._input_shape
            self.layers.extend(layer.layers)
            return
        if isinstance(layer, _layers.InputLayer):
            if self.layers:
                raise ValueError(f"{layer.name}: Input must be the first layer")
            self._input_shape = layer.input_shape
            return
        if not isinstance(layer, _layers.Layer):
            raise TypeError(f"{layer!r} is not a layer gpu-mlp can build")
        if not self.layers and self._input_shape is None and layer.input_shape is not None:
            self._input_shape = layer.input_shape
        self.layers.append(layer)

    @property
    def _network(self):
        return self._inner._network if self._inner is not None else self._own_network

    def build(self, input_shape=None):
        """Makes the network for samples of ``input_shape`` (with or without the batch axis)."""
        if self._structure is not None:
            return
        if self._input_shape is None:
            if input_shape is None:
                raise ValueError(
                    f"{self.name}: the input shape is unknown; give Input(shape=...) or fit "
                    "the model first"
                )
            self._input_shape = tuple(input_shape)[1:]
        needs_flatten(self.layers, self._input_shape)
        st = structure(self.layers)
        if self._inner is not None:
            self._inner.build((None,) + tuple(self._input_shape))
        elif self._own_network is None:
            rows, cols, channels = _image_shape(self._input_shape)
            inputs = rows * cols * channels
            network = _core.Network(inputs, st.hidden, st.classes, st.dropout, _seed())
            network.set_input(rows, cols, channels, "pixels" if st.rescale else "none")
            self._own_network = network
        self._structure = st
        for layer in self.layers:
            layer._model = self

    @property
    def built(self):
        return self._structure is not None

    # ------------------------------------------------------------------------- compiling

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                weighted_metrics=None, run_eagerly=False, steps_per_execution=1,
                jit_compile="auto", **kwargs):
        """Sets the optimizer, the loss and the metrics (``'accuracy'``); a new optimizer starts
        from fresh moments."""
        if loss_weights is not None or weighted_metrics:
            raise ValueError("compile: loss_weights and weighted_metrics are not supported")
        self._optimizer = _optimizers.get(optimizer)
        self._loss = None if loss is None else _losses.get(loss)
        self._metrics = _metric_names(metrics)
        if self._network is not None:
            self._network.reset_training()
        if self.built:
            self._check_loss()

    def _check_loss(self):
        if self._loss is None or self._optimizer is None:
            raise ValueError(f"{self.name}: call compile(optimizer=..., loss=...) before fit")
        st = self._structure
        out = st.dense[-1]
        if st.logits and not self._loss.from_logits:
            raise ValueError(
                f"the output layer '{out.name}' has no softmax, so the model gives logits, "
                f"but the loss '{self._loss.name}' expects probabilities: give the loss "
                "from_logits=True or the layer activation='softmax'"
            )
        if not st.logits and self._loss.from_logits:
            raise ValueError(
                f"the output layer '{out.name}' gives softmax probabilities, but the loss "
                f"'{self._loss.name}' has from_logits=True: drop from_logits or the softmax"
            )

    # ----------------------------------------------------------------------------- data

    def _rows(self, x, training=False):
        """``x`` as the network's rows (checked against the input shape). ``uint8`` pixels stay
        packed where the model scales them itself (``Rescaling(1/255)``, or a model recorded as
        taking pixels, e.g. one of ``gpu-mlp train``'s, when predicting)."""
        if x is None:
            raise ValueError("x is required")
        if hasattr(x, "to_numpy"):
            x = x.to_numpy()
        x = np.asarray(x)
        if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
            raise TypeError(f"x must hold numbers, got an array of {x.dtype}")
        if x.ndim < 2:
            raise ValueError(f"x must be an array of samples (n, ...), got shape {x.shape}")
        self.build(x.shape)
        if tuple(x.shape[1:]) != tuple(self._input_shape) and int(np.prod(x.shape[1:])) != int(
            np.prod(self._input_shape)
        ):
            raise ValueError(
                f"{self.name} expects input of shape (None, "
                f"{', '.join(map(str, self._input_shape))}), got {tuple(x.shape)}"
            )
        if self._structure.rescale:
            if x.dtype == np.uint8:
                return _as_rows(x, keep_uint8=True)
            return _as_rows(x) * _INV_255
        if x.dtype == np.uint8 and not training and self._network.scaling == "pixels":
            return _as_rows(x, keep_uint8=True)
        rows = _as_rows(x)
        if not np.isfinite(rows).all():
            raise ValueError("x contains NaN or infinity")
        return rows

    def _labels(self, y, n):
        if y is None:
            raise ValueError("y is required")
        if hasattr(y, "to_numpy"):
            y = y.to_numpy()
        labels = self._loss.labels(y, self._structure.classes)
        if len(labels) != n:
            raise ValueError(f"x has {n} samples but y has {len(labels)}")
        return labels

    # ---------------------------------------------------------------------------- training

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1):
        """Trains ``epochs`` epochs; returns a ``History`` whose ``history`` has Keras's keys
        (``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``)."""
        refused = {
            "shuffle": shuffle is not True,
            "class_weight": class_weight is not None,
            "sample_weight": sample_weight is not None,
            "initial_epoch": initial_epoch != 0,
            "steps_per_epoch": steps_per_epoch is not None,
            "validation_freq": validation_freq != 1,
        }
        for arg, bad in refused.items():
            if bad:
                raise ValueError(f"fit: {arg} is not supported by gpu-mlp")
        if not isinstance(epochs, (int, np.integer)) or epochs < 1:
            raise ValueError(f"fit: epochs must be a positive int, got {epochs!r}")
        xr = self._rows(x, training=True)
        self._check_loss()
        yi = self._labels(y, len(xr))
        xv = yv = None
        if validation_data is not None:
            if len(validation_data) == 3 and validation_data[2] is not None:
                raise ValueError("fit: validation sample weights are not supported by gpu-mlp")
            xv = self._rows(validation_data[0], training=True)
            yv = self._labels(validation_data[1], len(xv))
        elif validation_split:
            if not 0 < validation_split < 1:
                raise ValueError(f"validation_split must be in [0, 1), got {validation_split}")
            kept = int(math.floor(len(xr) * (1.0 - validation_split)))
            if kept == 0:
                raise ValueError("validation_split leaves no training samples")
            xr, xv, yi, yv = xr[:kept], xr[kept:], yi[:kept], yi[kept:]
            xv, yv = (xv, yv) if len(xv) else (None, None)
        if xv is not None and xv.dtype != xr.dtype:
            xv = xv.astype(xr.dtype)
        self._record_scaling(x, xr)
        batch = int(batch_size or 32)
        verbose = 1 if verbose == "auto" else int(verbose)
        return self._train(xr, yi, xv, yv, batch, int(epochs), verbose, list(callbacks or []))

    def _record_scaling(self, x, xr):
        """Images of values in [0, 1] are pixels over 255, as the command line feeds them."""
        network, st = self._network, self._structure
        rows, cols, channels = _image_shape(self._input_shape)
        if st.rescale or rows == 1 or network.scaling == "standardize":
            return
        unit = xr.dtype != np.uint8 and xr.size and xr.min() >= 0 and xr.max() <= 1
        network.set_input(rows, cols, channels, "pixels" if unit else "none")

    def _train(self, xr, yi, xv, yv, batch, epochs, verbose, user_callbacks):
        history = _callbacks.History()
        everyone = [history] + user_callbacks
        steps = math.ceil(len(xr) / batch)
        for cb in everyone:
            cb.set_model(self)
            cb.set_params({"verbose": verbose, "epochs": epochs, "steps": steps})
        self.stop_training = False
        if user_callbacks:
            self._twin = _core.Network.from_bytes(self._network.to_bytes())
        for cb in everyone:
            cb.on_train_begin()
        state = {}

        def logs_of(raw, prefix=""):
            logs = {prefix + "loss": raw[prefix + "loss"]}
            for name in self._metrics:
                logs[prefix + name] = raw[prefix + "accuracy"]
            return logs

        def epoch_callbacks():
            for cb in everyone:
                cb.on_epoch_end(state["epoch"], dict(state["logs"]))
            return 1 if self.stop_training else 0

        def on_event(event, payload):
            if event == "epoch_begin":
                epoch, total, epoch_steps = payload
                state["epoch"] = epoch - 1
                if verbose:
                    epoch_header(epoch, total)
                state["bar"] = Progbar(epoch_steps, verbose)
                for cb in everyone:
                    cb.on_epoch_begin(epoch - 1)
            elif event == "batch_end":
                done, loss, accuracy = payload
                state["bar"].update(done, logs_of({"loss": loss, "accuracy": accuracy}))
            elif event == "epoch_end":
                logs = logs_of(payload)
                if "val_loss" in payload:
                    logs.update(logs_of(payload, "val_"))
                state["logs"] = dict(sorted(logs.items()))
                state["bar"].finish(state["logs"])
                # Callbacks may read the weights: they run when the engine hands them over.
                return 2 if user_callbacks else epoch_callbacks()
            elif event == "snapshot":
                self._snapshot = payload
                return epoch_callbacks()
            return 0

        try:
            self._network.fit(
                xr, yi, xv, yv, epochs=epochs, batch_size=batch, seed=_seed(),
                backend=_backend, adapter=_adapter, callback=on_event, warm=True,
                **self._optimizer.settings(),
            )
        finally:
            self._snapshot = None
            self._twin = None
        for cb in everyone:
            cb.on_train_end()
        history.model = self
        history.params = {"verbose": verbose, "epochs": epochs, "steps": steps}
        self.history = history
        return history

    # -------------------------------------------------------------------------- prediction

    def _output(self, x):
        xr = self._rows(x)
        if not self._structure.logits:
            return self._network.predict_proba(xr)
        h = xr.astype(np.float32) * (_INV_255 if xr.dtype == np.uint8 else np.float32(1))
        weights = self.get_weights()
        for i in range(0, len(weights), 2):
            h = h @ weights[i] + weights[i + 1]
            if i + 2 < len(weights):
                h = np.maximum(h, 0)
        return h.astype(np.float32)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Probabilities (``n × classes``), or logits when the output has no softmax."""
        verbose = 1 if verbose == "auto" else int(verbose)
        bar = Progbar(math.ceil(len(x) / (batch_size or 32)), verbose)
        out = self._output(x)
        bar.finish({})
        return out

    def __call__(self, x, training=False):
        return tensor(self._output(x))

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict=False):
        """``[loss, accuracy]`` (just the loss without metrics) on ``x``, ``y``."""
        if sample_weight is not None:
            raise ValueError("evaluate: sample_weight is not supported by gpu-mlp")
        verbose = 1 if verbose == "auto" else int(verbose)
        bar = Progbar(math.ceil(len(x) / (batch_size or 32)), verbose)
        out = self._output(x)
        self._check_loss()
        yi = self._labels(y, len(out))
        logs = {"loss": float(self._loss.per_sample(yi, out).mean())}
        accuracy = float(np.mean(np.argmax(out, axis=1) == yi))
        for name in self._metrics:
            logs[name] = accuracy
        bar.finish(logs)
        if return_dict:
            return logs
        return [logs["loss"]] + [logs[n] for n in self._metrics] if self._metrics else logs["loss"]

    # ----------------------------------------------------------------------------- weights

    def get_weights(self):
        """``[kernel, bias, ...]`` of each ``Dense``: kernels ``(inputs, units)`` as Keras's."""
        self._require_built()
        # While training, the network is busy: the epoch's weights come with its layout's copy.
        training = self._snapshot is not None
        params = self._snapshot if training else self._network.parameters()
        weights = []
        for fan_in, fan_out, w, b in (self._twin if training else self._network).layers():
            weights.append(params[w : w + fan_in * fan_out].reshape(fan_in, fan_out).copy())
            weights.append(params[b : b + fan_out].copy())
        return weights

    def set_weights(self, weights):
        """Replaces every weight (the list ``get_weights`` gives)."""
        self._require_built()
        shapes = [w.shape for w in self.get_weights()]
        if len(weights) != len(shapes) or any(np.shape(w) != s for w, s in zip(weights, shapes)):
            raise ValueError(
                f"set_weights: expected arrays of shapes {shapes}, got "
                f"{[np.shape(w) for w in weights]}"
            )
        flat = np.concatenate([np.asarray(w, dtype=np.float32).ravel() for w in weights])
        self._network.set_parameters(flat)

    def _layer_weights(self, layer):
        if layer not in self._structure.dense:
            return []
        i = self._structure.dense.index(layer)
        return self.get_weights()[2 * i : 2 * i + 2]

    def count_params(self):
        self._require_built()
        return int(sum(w.size for w in self.get_weights()))

    def _require_built(self):
        if self._structure is None:
            self.build()

    # ---------------------------------------------------------------------- summary, saving

    def summary(self, print_fn=None, **kwargs):
        """Prints the layers, their output shapes and parameter counts, as Keras does."""
        from ._summary import summary_lines

        self._require_built()
        out = print_fn or print
        for line in summary_lines(self):
            out(line)

    def save(self, filepath, overwrite=True, **kwargs):
        """Writes the model as a gpu-mlp safetensors checkpoint (any extension)."""
        import os

        self._require_built()
        if not overwrite and os.path.exists(filepath):
            raise FileExistsError(f"{filepath} exists and overwrite=False")
        network = self._network
        if self._snapshot is not None:
            # Saved from a callback while training: the epoch's weights, through a copy.
            network = self._twin
            network.set_parameters(self._snapshot)
        meta = dict(network.metadata)
        meta["keras"] = json.dumps(
            {
                "input_shape": list(self._input_shape),
                "output": "logits" if self._structure.logits else "softmax",
                "rescale": self._structure.rescale,
                "loss": None if self._loss is None else self._loss.get_config() | {
                    "class": type(self._loss).__name__},
                "metrics": self._metrics,
                "optimizer": None if self._optimizer is None else self._optimizer.get_config(),
            }
        )
        network.metadata = meta
        network.save(str(filepath))


class Model(Sequential):
    """``keras.Model``: gpu-mlp builds the layers of a ``Sequential``; the functional API
    (``Model(inputs, outputs)``) and subclassing with ``call`` are refused."""

    def __init__(self, *args, **kwargs):
        if args or "inputs" in kwargs or "outputs" in kwargs or hasattr(self, "call"):
            raise NotImplementedError(
                "keras.Model(inputs, outputs) and Model subclasses are not supported by "
                "gpu-mlp; build the network as a keras.Sequential([...])"
            )
        super().__init__(**kwargs)

# The engine every model trains on: set with gpu_mlp.keras.models.use_backend.
_backend = "auto"
_adapter = None


def use_backend(backend="auto", adapter=None):
    """Chooses the engine Keras models train on: ``'auto'`` (a GPU when there is a hardware
    one, else the CPU engine), ``'cpu'``, ``'vulkan'``, ``'metal'``, ``'dx12'`` or ``'gl'``;
    ``adapter`` picks a GPU by index or name."""
    global _backend, _adapter
    _backend, _adapter = str(backend), adapter


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """A model from a checkpoint written by ``save`` or by ``gpu-mlp train``."""
    from ._summary import rebuilt

    return rebuilt(_core.Network.load(str(filepath)), compile)
