"""``keras.losses``: the two cross-entropies gpu-mlp trains with (integer labels or one-hot
rows), on probabilities or, with ``from_logits=True``, on logits."""

import numpy as np

from .._tensor import tensor
from ._refused import refuse_missing

_EPSILON = 1e-7


class Loss:
    """A cross-entropy; calling it gives the mean loss of predictions, as Keras's do."""

    sparse = True
    default_name = "loss"

    def __init__(self, from_logits=False, reduction="sum_over_batch_size", name=None, **kwargs):
        if kwargs.get("label_smoothing"):
            raise ValueError(f"{type(self).__name__}: label_smoothing is not supported by gpu-mlp")
        if kwargs.get("ignore_class") is not None:
            raise ValueError(f"{type(self).__name__}: ignore_class is not supported by gpu-mlp")
        if reduction not in ("sum_over_batch_size", "auto", None):
            raise ValueError(f"{type(self).__name__}: reduction={reduction!r} is not supported")
        self.from_logits = bool(from_logits)
        self.name = name or self.default_name

    def labels(self, y, classes):
        """``y`` as class indices (``uint16``)."""
        y = np.asarray(y)
        if self.sparse:
            if y.ndim == 2 and y.shape[1] == 1:
                y = y[:, 0]
            if y.ndim != 1:
                raise ValueError(
                    f"{self.name}: expects integer labels of shape (n,), got shape {y.shape}; "
                    "for one-hot rows use loss='categorical_crossentropy'"
                )
            if not (np.issubdtype(y.dtype, np.integer) or np.all(np.mod(y, 1) == 0)):
                raise ValueError(f"{self.name}: labels must be whole numbers")
            if y.size and (y.min() < 0 or y.max() >= classes):
                raise ValueError(
                    f"{self.name}: labels must be in [0, {classes}), got {y.min()}..{y.max()}"
                )
            return np.ascontiguousarray(y, dtype=np.uint16)
        if y.ndim != 2 or y.shape[1] != classes:
            raise ValueError(
                f"{self.name}: expects one-hot rows of {classes} values, got shape {y.shape}; "
                "for integer labels use loss='sparse_categorical_crossentropy'"
            )
        idx = np.argmax(y, axis=1)
        if not np.array_equal(y, np.eye(classes, dtype=y.dtype)[idx]):
            raise ValueError(f"{self.name}: the rows of y must be one-hot (one 1, the rest 0)")
        return np.ascontiguousarray(idx, dtype=np.uint16)

    def per_sample(self, y_idx, y_pred):
        """Each sample's cross-entropy for class indices and predictions."""
        y_pred = np.asarray(y_pred, dtype=np.float64)
        rows = np.arange(len(y_idx))
        if self.from_logits:
            shifted = y_pred - y_pred.max(axis=1, keepdims=True)
            logsum = np.log(np.exp(shifted).sum(axis=1))
            return logsum - shifted[rows, y_idx]
        p = y_pred / y_pred.sum(axis=1, keepdims=True)
        return -np.log(np.clip(p[rows, y_idx], _EPSILON, 1 - _EPSILON))

    def __call__(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            raise ValueError(f"{self.name}: sample_weight is not supported by gpu-mlp")
        y_pred = np.asarray(y_pred)
        labels = self.labels(y_true, y_pred.shape[1])
        return tensor(np.float32(self.per_sample(labels, y_pred).mean()))

    def get_config(self):
        return {"name": self.name, "from_logits": self.from_logits}


class SparseCategoricalCrossentropy(Loss):
    """Cross-entropy on integer class labels."""

    default_name = "sparse_categorical_crossentropy"


class CategoricalCrossentropy(Loss):
    """Cross-entropy on one-hot rows."""

    sparse = False
    default_name = "categorical_crossentropy"


_BY_NAME = {
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
}


def get(identifier):
    """A loss from a name or an instance; anything gpu-mlp cannot train with is refused."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    shown = getattr(identifier, "__name__", identifier)
    raise ValueError(
        f"loss={shown!r} cannot be trained by gpu-mlp; use 'sparse_categorical_crossentropy' "
        "or 'categorical_crossentropy'"
    )


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False):
    return SparseCategoricalCrossentropy(from_logits=from_logits)(y_true, y_pred)


def categorical_crossentropy(y_true, y_pred, from_logits=False):
    return CategoricalCrossentropy(from_logits=from_logits)(y_true, y_pred)


__getattr__ = refuse_missing(
    "losses",
    "trains softmax classifiers",
    "SparseCategoricalCrossentropy or CategoricalCrossentropy",
)
