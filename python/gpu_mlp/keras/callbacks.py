"""``keras.callbacks``: ``History``, ``EarlyStopping`` and ``ModelCheckpoint``, with Keras 3's
rules. They run after each epoch with that epoch's weights at hand (``model.get_weights()``)."""

import warnings

from ._refused import refuse_missing


class Callback:
    """The hooks ``fit`` calls; ``self.model`` is the model being trained."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass


class History(Callback):
    """What ``fit`` returns: ``history`` maps each metric to its value per epoch."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)


def _better(monitor, mode):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode={mode!r}: use 'auto', 'min' or 'max'")
    if mode == "auto":
        mode = "max" if ("acc" in monitor or monitor.startswith("fmeasure")) else "min"
    return (lambda a, b: a > b) if mode == "max" else (lambda a, b: a < b), mode


class EarlyStopping(Callback):
    """Stops training once ``monitor`` has not improved by more than ``min_delta`` for
    ``patience`` epochs; with ``restore_best_weights`` the model ends with the best epoch's
    weights."""

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self.monitor = monitor
        self.min_delta = abs(min_delta)
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self._better, self.mode = _better(monitor, mode)
        if self.mode == "min":
            self.min_delta = -self.min_delta

    def _improved(self, current, reference):
        return reference is None or self._better(current - self.min_delta, reference)

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(
                f"Early stopping conditioned on metric `{self.monitor}` which is not "
                f"available. Available metrics are: {','.join(logs or {})}"
            )
            return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
        self.wait += 1
        if self._improved(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._improved(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(
                    "Restoring model weights from the end of the best epoch: "
                    f"{self.best_epoch + 1}."
                )
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(Callback):
    """Saves the model after each epoch (only when ``monitor`` improved, with
    ``save_best_only``) as the safetensors checkpoint ``gpu-mlp`` and ``load_model`` read.
    ``filepath`` may hold ``{epoch}`` and metric fields, e.g. ``"model-{epoch:02d}.keras"``."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch",
                 initial_value_threshold=None):
        super().__init__()
        if save_freq != "epoch":
            raise ValueError("ModelCheckpoint: only save_freq='epoch' is supported by gpu-mlp")
        self.filepath = str(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self._better, self.mode = _better(monitor, mode)
        self.best = initial_value_threshold

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        path = self.filepath.format(epoch=epoch + 1, **logs)
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                warnings.warn(
                    f"Can save best model only with {self.monitor} available, skipping."
                )
                return
            if self.best is not None and not self._better(current, self.best):
                if self.verbose > 0:
                    print(
                        f"\nEpoch {epoch + 1}: {self.monitor} did not improve from "
                        f"{self.best:.5f}"
                    )
                return
            if self.verbose > 0:
                shown = "inf" if self.best is None else f"{self.best:.5f}"
                print(
                    f"\nEpoch {epoch + 1}: {self.monitor} improved from {shown} to "
                    f"{current:.5f}, saving model to {path}"
                )
            self.best = current
        elif self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: saving model to {path}")
        self.model.save(path)


class LambdaCallback(Callback):
    """Callbacks from plain functions: ``on_epoch_end(epoch, logs)`` and friends."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None, **kwargs):
        super().__init__()
        noop = lambda *a, **k: None  # noqa: E731
        self.on_epoch_begin = on_epoch_begin or noop
        self.on_epoch_end = on_epoch_end or noop
        self.on_train_begin = on_train_begin or noop
        self.on_train_end = on_train_end or noop


__getattr__ = refuse_missing(
    "callbacks",
    "runs a few callbacks",
    "EarlyStopping, ModelCheckpoint or LambdaCallback",
)
