"""``gpu_mlp.MLPClassifier``: scikit-learn's ``MLPClassifier`` contract on gpu-mlp's engines.

Parameters keep scikit-learn's names and meanings. What gpu-mlp cannot do the same way (another
activation, L-BFGS, momentum, an L2 penalty, a learning-rate schedule, no shuffling) raises a
``ValueError`` at ``fit`` instead of silently training something else. Two defaults differ from
scikit-learn's: ``alpha=0.0`` (gpu-mlp has no L2 penalty; use ``weight_decay``) and ``momentum``
only matters with ``solver='sgd'``, where it must be 0.
"""

import pickle
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from . import _core
from ._arrays import class_indices, seed_of

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - older scikit-learn

    def _validate_data(estimator, *args, **kwargs):
        return estimator._validate_data(*args, **kwargs)


_MAX_CLASSES = 65535


class MLPClassifier(ClassifierMixin, BaseEstimator):
    """A multilayer perceptron (ReLU hidden layers, softmax output, cross-entropy loss) trained
    by gpu-mlp on a GPU or its CPU engine.

    Parameters are scikit-learn's (see ``sklearn.neural_network.MLPClassifier``), plus
    ``dropout`` (rate after every hidden layer), ``weight_decay`` (AdamW's decoupled decay),
    ``backend`` (``'auto'``, ``'cpu'``, ``'vulkan'``, ``'metal'``, ``'dx12'``, ``'gl'``) and
    ``adapter`` (a GPU's index or a part of its name).
    """

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        dropout=0.0,
        weight_decay=0.0,
        backend="auto",
        adapter=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.weight_decay = weight_decay
        self.backend = backend
        self.adapter = adapter

    # ----------------------------------------------------------------------------- settings

    def _hidden(self):
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, (int, np.integer)):
            sizes = [sizes]
        try:
            sizes = [int(s) for s in sizes]
        except TypeError:
            raise ValueError(
                f"hidden_layer_sizes must be an int or a sequence of ints, got {sizes!r}"
            ) from None
        if any(s <= 0 for s in sizes):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {list(sizes)}.")
        return sizes

    def _check_settings(self):
        """Refuses what gpu-mlp would train differently from scikit-learn."""
        if self.activation != "relu":
            raise ValueError(
                f"activation={self.activation!r} is not supported: gpu-mlp trains ReLU hidden "
                "layers only (activation='relu')"
            )
        if self.solver not in ("adam", "sgd"):
            raise ValueError(
                f"solver={self.solver!r} is not supported: use solver='adam' or 'sgd'"
            )
        if self.solver == "sgd" and self.momentum != 0:
            raise ValueError(
                f"momentum={self.momentum} is not supported: gpu-mlp's SGD is plain "
                "(w -= lr*g); pass momentum=0 with solver='sgd', or use solver='adam'"
            )
        if self.alpha != 0:
            raise ValueError(
                f"alpha={self.alpha} is not supported: gpu-mlp has no L2 penalty; use "
                "alpha=0 (and weight_decay for AdamW's decoupled decay)"
            )
        if self.learning_rate != "constant":
            raise ValueError(
                f"learning_rate={self.learning_rate!r} is not supported: use 'constant'"
            )
        if not self.shuffle:
            raise ValueError(
                "shuffle=False is not supported: gpu-mlp reshuffles the samples every epoch"
            )
        if self.weight_decay and self.solver != "adam":
            raise ValueError("weight_decay needs solver='adam' (it makes Adam AdamW)")
        positive = {
            "learning_rate_init": self.learning_rate_init,
            "max_iter": self.max_iter,
            "n_iter_no_change": self.n_iter_no_change,
            "epsilon": self.epsilon,
        }
        for name, value in positive.items():
            if not (isinstance(value, (int, float, np.number)) and value > 0):
                raise ValueError(f"{name} must be > 0, got {value!r}.")
        if not 0 <= self.beta_1 < 1 or not 0 <= self.beta_2 < 1:
            raise ValueError("beta_1 and beta_2 must be in [0, 1).")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}.")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}.")
        if self.early_stopping and not 0 < self.validation_fraction < 1:
            raise ValueError(
                f"validation_fraction must be in (0, 1), got {self.validation_fraction}."
            )
        if not (self.batch_size == "auto" or isinstance(self.batch_size, (int, np.integer))):
            raise ValueError(f"batch_size must be 'auto' or an int, got {self.batch_size!r}.")

    def _batch(self, n_samples):
        if self.batch_size == "auto":
            return min(200, n_samples)
        if not 1 <= self.batch_size <= n_samples:
            warnings.warn(
                "Got `batch_size` less than 1 or larger than sample size. It is going to be "
                "clipped"
            )
        return int(np.clip(self.batch_size, 1, n_samples))

    # ---------------------------------------------------------------------------- training

    def fit(self, X, y):
        """Trains for up to ``max_iter`` epochs (fewer when the loss stops improving)."""
        return self._fit(X, y, incremental=False)

    def partial_fit(self, X, y, classes=None):
        """Trains one epoch on ``X``, ``y``, going on from the last call (Adam's moments too).
        ``classes`` (every label there will be) is needed on the first call."""
        first = not hasattr(self, "classes_")
        if first and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        return self._fit(X, y, incremental=True, classes=classes)

    def _fit(self, X, y, incremental, classes=None):
        self._check_settings()
        hidden = self._hidden()
        first = not hasattr(self, "_network") or not (incremental or self.warm_start)
        X, y = _validate_data(
            self,
            X,
            y,
            reset=first,
            dtype=np.float32,
            order="C",
            accept_sparse=False,
            y_numeric=False,
            multi_output=False,
        )
        check_classification_targets(y)
        if first:
            labels = np.unique(y if classes is None else np.asarray(classes))
            if len(labels) < 2:
                raise ValueError(
                    "Classifier can't train when only one class is present: y holds only "
                    f"the class {labels[0]!r}."
                )
            if len(labels) > _MAX_CLASSES:
                raise ValueError(f"{len(labels)} classes, at most {_MAX_CLASSES} are supported")
            self.classes_ = labels
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(
                f"classes={list(classes)} is not the same as on the first call "
                f"{list(self.classes_)}"
            )
        y_idx = class_indices(y, self.classes_)
        seed = seed_of(self.random_state)
        self._seed = seed
        if first:
            n_classes = len(self.classes_)
            self._network = _core.Network(X.shape[1], hidden, n_classes, self.dropout, seed)
            self._network.class_names = [str(c) for c in self.classes_]
            self.loss_curve_ = []
            self._epoch_seconds = []
            self.n_iter_ = 0
            self.t_ = 0
            self.best_loss_ = np.inf
            self._no_improvement = 0
            self.validation_scores_ = [] if self.early_stopping else None
            self.best_validation_score_ = -np.inf if self.early_stopping else None
            self._best_parameters = None
        elif list(self._network.hidden) != hidden:
            raise ValueError(
                f"hidden_layer_sizes={hidden} differs from the fitted network's "
                f"{list(self._network.hidden)}; fit a new estimator (warm_start=False)"
            )
        X_val = y_val = None
        if self.early_stopping and not incremental:
            stratify = y_idx if np.min(np.bincount(y_idx)) >= 2 else None
            X, X_val, y_idx, y_val = train_test_split(
                X,
                y_idx,
                random_state=seed % (2**32),
                test_size=self.validation_fraction,
                stratify=stratify,
            )
            X, X_val = np.ascontiguousarray(X), np.ascontiguousarray(X_val)
        epochs = 1 if incremental else self.max_iter
        self._stopped = False
        self._run(X, y_idx, X_val, y_val, epochs, warm=not first or incremental)
        if self.early_stopping and self._best_parameters is not None and not incremental:
            self._network.set_parameters(self._best_parameters)
        if not incremental and not self._stopped:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                "optimization hasn't converged yet.",
                ConvergenceWarning,
            )
        self._publish()
        return self

    def _run(self, X, y_idx, X_val, y_val, epochs, warm):
        batch = self._batch(X.shape[0])
        rows = X.shape[0]

        def on_event(event, payload):
            if event == "epoch_end":
                return self._epoch_end(payload, rows)
            if event == "snapshot":
                self._best_parameters = payload
            return None

        self._network.fit(
            X,
            y_idx,
            X_val,
            y_val,
            epochs=epochs,
            batch_size=batch,
            optimizer_name="adamw" if self.weight_decay else self.solver,
            lr=float(self.learning_rate_init),
            beta_1=float(self.beta_1),
            beta_2=float(self.beta_2),
            epsilon=float(self.epsilon),
            weight_decay=float(self.weight_decay),
            seed=self._seed,
            backend=str(self.backend),
            adapter=None if self.adapter is None else str(self.adapter),
            callback=on_event,
            warm=warm,
        )

    def _epoch_end(self, logs, rows):
        """scikit-learn's stopping rule; answers 1 to stop, 2 to keep this epoch's parameters."""
        self.n_iter_ += 1
        self.t_ += rows
        # The loop's own seconds of the epoch's steps (scripts/bench_python.py compares them
        # with the command line's).
        self._epoch_seconds.append(logs["seconds"])
        loss = logs["loss"]
        self.loss_curve_.append(loss)
        if self.verbose:
            print(f"Iteration {self.n_iter_}, loss = {loss:.8f}")
        answer = 0
        if self.early_stopping and "val_accuracy" in logs:
            score = logs["val_accuracy"]
            self.validation_scores_.append(score)
            if self.verbose:
                print(f"Validation score: {score:f}")
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement += 1
            else:
                self._no_improvement = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                answer |= 2
        else:
            if loss > self.best_loss_ - self.tol:
                self._no_improvement += 1
            else:
                self._no_improvement = 0
            self.best_loss_ = min(self.best_loss_, loss)
        if self._no_improvement > self.n_iter_no_change:
            if self.verbose:
                what = "Validation score" if self.early_stopping else "Training loss"
                print(
                    f"{what} did not improve more than tol={self.tol} for "
                    f"{self.n_iter_no_change} consecutive epochs. Stopping."
                )
            self._stopped = True
            answer |= 1
        return answer

    def _publish(self):
        """The fitted attributes in scikit-learn's layout."""
        params = self._network.parameters()
        self.coefs_, self.intercepts_ = [], []
        for fan_in, fan_out, w, b in self._network.layers():
            self.coefs_.append(params[w : w + fan_in * fan_out].reshape(fan_in, fan_out).copy())
            self.intercepts_.append(params[b : b + fan_out].copy())
        self.n_layers_ = len(self.coefs_) + 1
        self.n_outputs_ = len(self.classes_)
        self.out_activation_ = "softmax"
        if self.early_stopping:
            self.best_loss_ = None

    # -------------------------------------------------------------------------- prediction

    def _input(self, X):
        check_is_fitted(self)
        return _validate_data(
            self, X, reset=False, dtype=np.float32, order="C", accept_sparse=False
        )

    def predict_proba(self, X):
        """Class probabilities, one row per sample, columns in ``classes_`` order."""
        X = self._input(X)
        p = self._network.predict_proba(X).astype(np.float64)
        return p / p.sum(axis=1, keepdims=True)

    def predict_log_proba(self, X):
        """The log of ``predict_proba``."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """The most probable class of each sample (one of ``classes_``)."""
        p = self.predict_proba(X)
        return self.classes_[np.argmax(p, axis=1)]

    def score(self, X, y, sample_weight=None):
        """Mean accuracy on ``X``, ``y``; labels ``fit`` never saw are an error, not a miss."""
        check_is_fitted(self)
        y = np.asarray(y)
        if y.ndim == 1:
            class_indices(y, self.classes_)
        return super().score(X, y, sample_weight=sample_weight)

    # ------------------------------------------------------------------- checkpoints, pickle

    def save(self, path):
        """Writes the model as the safetensors checkpoint ``gpu-mlp eval/predict`` read."""
        check_is_fitted(self)
        self._network.save(str(path))

    @classmethod
    def load(cls, path, **params):
        """An estimator predicting with a checkpoint (from ``gpu-mlp train`` or ``save``)."""
        network = _core.Network.load(str(path))
        return cls._from_network(network, **params)

    @classmethod
    def _from_network(cls, network, **params):
        est = cls(hidden_layer_sizes=tuple(network.hidden), dropout=network.dropout, **params)
        names = list(network.class_names)
        try:
            labels = np.array([int(n) for n in names])
        except ValueError:
            labels = np.array(names)
        est.classes_ = labels
        est.n_features_in_ = network.inputs
        est._network = network
        est.loss_curve_, est.n_iter_, est.t_, est._epoch_seconds = [], 0, 0, []
        est._publish()
        return est

    def __getstate__(self):
        state = self.__dict__.copy()
        if "_network" in state:
            state["_network"] = self._network.to_bytes()
        return state

    def __setstate__(self, state):
        state = dict(state)
        if "_network" in state:
            state["_network"] = _core.Network.from_bytes(state["_network"])
        self.__dict__.update(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.classifier_tags.multi_label = False
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"multilabel": False}
