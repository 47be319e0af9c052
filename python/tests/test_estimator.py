"""gpu_mlp.MLPClassifier against scikit-learn's contract."""

import os
import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

import gpu_mlp
from gpu_mlp import MLPClassifier


def quick(**kw):
    kw.setdefault("max_iter", 60)
    kw.setdefault("random_state", 0)
    kw.setdefault("hidden_layer_sizes", (16,))
    return MLPClassifier(**kw)


def fit_quietly(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


def test_check_estimator_passes():
    check_estimator(MLPClassifier())


def test_learns_blobs_and_exposes_sklearn_attributes(blobs):
    X, y = blobs
    est = fit_quietly(quick(), X, y)
    assert est.score(X, y) > 0.95
    assert [c.shape for c in est.coefs_] == [(5, 16), (16, 3)]
    assert [b.shape for b in est.intercepts_] == [(16,), (3,)]
    assert est.n_features_in_ == 5 and est.n_iter_ == len(est.loss_curve_) <= 60
    assert est.loss_curve_[-1] < est.loss_curve_[0]
    # The published weights are the ones predicting: a numpy forward pass agrees.
    h = np.maximum(X @ est.coefs_[0] + est.intercepts_[0], 0)
    z = h @ est.coefs_[1] + est.intercepts_[1]
    p = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(p / p.sum(1, keepdims=True), est.predict_proba(X), atol=1e-5)
    np.testing.assert_allclose(np.exp(est.predict_log_proba(X)), est.predict_proba(X))


def test_string_labels_and_pandas_feature_names(blobs):
    pd = pytest.importorskip("pandas")
    X, y = blobs
    names = np.array(["cat", "dog", "emu"])[y]
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)])
    est = fit_quietly(quick(), frame, names)
    assert list(est.classes_) == ["cat", "dog", "emu"]
    assert list(est.feature_names_in_) == list(frame.columns)
    assert set(est.predict(frame)) <= {"cat", "dog", "emu"}


def test_pipeline_grid_search_cross_val_clone_pickle(blobs):
    X, y = blobs
    pipe = make_pipeline(StandardScaler(), quick(max_iter=200))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert cross_val_score(pipe, X, y, cv=3).mean() > 0.9
        grid = GridSearchCV(quick(max_iter=20), {"hidden_layer_sizes": [(4,), (8,)]}, cv=2)
        grid.fit(X, y)
    assert grid.best_params_["hidden_layer_sizes"] in [(4,), (8,)]
    est = fit_quietly(quick(), X, y)
    twin = clone(est)
    assert twin.get_params() == est.get_params() and not hasattr(twin, "coefs_")
    back = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(back.predict_proba(X), est.predict_proba(X))


def test_same_seed_same_model_and_fit_is_deterministic(blobs):
    X, y = blobs
    a = fit_quietly(quick(random_state=3), X, y)
    b = fit_quietly(quick(random_state=3), X, y)
    np.testing.assert_array_equal(a.coefs_[0], b.coefs_[0])
    c = fit_quietly(quick(random_state=4), X, y)
    assert not np.array_equal(a.coefs_[0], c.coefs_[0])


def test_partial_fit_goes_on_one_epoch_at_a_time(blobs):
    X, y = blobs
    est = quick()
    with pytest.raises(ValueError, match="classes must be passed"):
        est.partial_fit(X, y)
    est.partial_fit(X, y, classes=[0, 1, 2])
    first = est.loss_curve_[-1]
    for _ in range(20):
        est.partial_fit(X, y)
    assert est.n_iter_ == 21 and est.loss_curve_[-1] < first
    with pytest.raises(ValueError, match="features"):
        est.partial_fit(X[:, :3], y)


def test_stops_when_the_loss_stops_improving(blobs):
    X, y = blobs
    est = quick(max_iter=500, tol=0.5, n_iter_no_change=2)
    est.fit(X, y)
    assert est.n_iter_ < 10, est.n_iter_


def test_early_stopping_keeps_the_best_validation_epoch(blobs):
    X, y = blobs
    est = fit_quietly(quick(early_stopping=True, max_iter=300, n_iter_no_change=5), X, y)
    assert est.n_iter_ == len(est.validation_scores_) < 300
    assert est.best_validation_score_ == max(est.validation_scores_)
    assert est.best_loss_ is None


@pytest.mark.parametrize(
    "params, what",
    [
        ({"activation": "tanh"}, "activation='tanh'"),
        ({"solver": "lbfgs"}, "solver='lbfgs'"),
        ({"solver": "sgd"}, "momentum"),
        ({"alpha": 1e-4}, "alpha"),
        ({"learning_rate": "adaptive", "solver": "sgd", "momentum": 0}, "learning_rate"),
        ({"shuffle": False}, "shuffle"),
        ({"backend": "cuda"}, "backend 'cuda'"),
    ],
)
def test_settings_it_cannot_honour_are_refused_at_fit(blobs, params, what):
    X, y = blobs
    est = quick(**params)
    with pytest.raises(ValueError, match=what.replace("(", r"\(").replace("'", ".")):
        est.fit(X, y)


def test_bad_input_raises_what_sklearn_raises(blobs):
    sparse = pytest.importorskip("scipy.sparse")
    X, y = blobs
    est = quick()
    with pytest.raises(NotFittedError):
        est.predict(X)
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est.fit(bad, y)
    bad[3, 2] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        est.fit(bad, y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        est.fit(X, y[:-1])
    with pytest.raises(ValueError, match="one class"):
        est.fit(X, np.zeros(len(X)))
    with pytest.raises(TypeError, match="[Ss]parse"):
        est.fit(sparse.csr_matrix(X), y)
    with pytest.raises(ValueError):
        est.fit(np.array([["a", "b"]] * len(y), dtype=object), y)
    with pytest.raises(ValueError, match="Unknown label type"):
        est.fit(X, y + 0.5)
    fit_quietly(est, X, y)
    with pytest.raises(ValueError, match="features"):
        est.predict(X[:, :4])
    with pytest.raises(ValueError, match="not seen"):
        est.score(X, y + 7)


def test_checkpoint_round_trip_through_a_file(tmp_path, blobs):
    X, y = blobs
    est = fit_quietly(quick(), X, y)
    path = tmp_path / "m.safetensors"
    est.save(path)
    back = MLPClassifier.load(path)
    np.testing.assert_array_equal(back.predict_proba(X), est.predict_proba(X))
    np.testing.assert_array_equal(back.classes_, est.classes_)


def test_a_rust_panic_or_engine_error_is_a_python_exception(blobs):
    X, y = blobs
    net = gpu_mlp._core.Network(5, [4], 3)
    with pytest.raises(ValueError):
        net.set_parameters(np.zeros(3, dtype=np.float32))
    with pytest.raises(ValueError, match="not a valid safetensors"):
        gpu_mlp._core.Network.from_bytes(b"definitely not a checkpoint")


def test_the_gpu_engine_trains_as_the_cpu_engine(blobs):
    """The same run on a Vulkan adapter (lavapipe in CI) and on the CPU engine."""
    X, y = blobs
    runs = {}
    for backend in ("vulkan", "cpu"):
        try:
            runs[backend] = fit_quietly(quick(backend=backend, batch_size=32, max_iter=5), X, y)
        except RuntimeError as e:
            if "no GPU adapter" in str(e) and not os.environ.get("CI"):
                pytest.skip(str(e))
            raise
    assert runs["vulkan"]._network.engine.startswith("vulkan")
    np.testing.assert_allclose(runs["vulkan"].loss_curve_, runs["cpu"].loss_curve_, rtol=1e-5)


def test_a_diverging_run_is_a_value_error_and_keeps_no_broken_engine(blobs):
    X, y = blobs
    est = quick(learning_rate_init=1e9, max_iter=5)
    with pytest.raises(ValueError, match="diverged.*lower learning rate"):
        est.fit(X * 1e6, y)
    fit_quietly(quick(), X, y)
