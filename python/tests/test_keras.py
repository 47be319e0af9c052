"""gpu_mlp.keras: the Keras tutorials' API on gpu-mlp's engines."""

import os
import signal

import numpy as np
import pytest

import gpu_mlp as tf
from gpu_mlp import keras
from gpu_mlp.keras import layers


def blobs(n=600, classes=3, features=8, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(classes, features))
    y = rng.integers(0, classes, size=n)
    return (centres[y] + rng.normal(size=(n, features))).astype("float32"), y


def small_model(**dense):
    return keras.Sequential(
        [keras.Input(shape=(8,)), layers.Dense(16, activation="relu"),
         layers.Dense(3, activation="softmax")]
    )


def compiled(model=None, **kw):
    model = model or small_model()
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=kw.get(
        "loss", "sparse_categorical_crossentropy"), metrics=["accuracy"])
    return model


def test_fit_returns_keras_history_and_learns():
    x, y = blobs()
    model = compiled()
    history = model.fit(x, y, epochs=5, batch_size=16, validation_split=0.2, verbose=0)
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert len(history.history["loss"]) == 5 and history.epoch == [0, 1, 2, 3, 4]
    loss, accuracy = model.evaluate(x, y, verbose=0)
    assert accuracy > 0.95 and loss < history.history["loss"][0]
    p = model.predict(x[:4], verbose=0)
    assert p.shape == (4, 3) and np.allclose(p.sum(1), 1, atol=1e-5)


def test_validation_data_is_evaluated_after_each_epoch():
    x, y = blobs()
    model = compiled()
    history = model.fit(x[:500], y[:500], epochs=2, validation_data=(x[500:], y[500:]), verbose=0)
    loss, accuracy = model.evaluate(x[500:], y[500:], verbose=0)
    assert history.history["val_accuracy"][-1] == pytest.approx(accuracy, abs=1e-9)
    assert history.history["val_loss"][-1] == pytest.approx(loss, rel=1e-4)


def test_epoch_lines_go_through_sys_stdout_and_verbose_0_is_silent(capsys):
    x, y = blobs()
    model = compiled()
    model.fit(x, y, epochs=2, verbose=0)
    assert capsys.readouterr().out == ""
    model.fit(x, y, epochs=2, batch_size=100, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out
    assert "6/6" in out and "accuracy:" in out and "loss:" in out


def test_one_hot_labels_with_categorical_crossentropy():
    x, y = blobs()
    model = compiled(loss=keras.losses.CategoricalCrossentropy())
    model.fit(x, keras.utils.to_categorical(y, 3), epochs=3, verbose=0)
    assert model.evaluate(x, keras.utils.to_categorical(y), verbose=0)[1] > 0.9
    with pytest.raises(ValueError, match="one-hot"):
        model.fit(x, y, epochs=1, verbose=0)


def test_early_stopping_and_model_checkpoint(tmp_path):
    x, y = blobs()
    model = compiled()
    stop = keras.callbacks.EarlyStopping(monitor="loss", min_delta=10.0, patience=2,
                                         restore_best_weights=True)
    path = str(tmp_path / "best.keras")
    save = keras.callbacks.ModelCheckpoint(path, monitor="val_accuracy", save_best_only=True)
    history = model.fit(x, y, epochs=50, validation_split=0.2, callbacks=[stop, save], verbose=0)
    # No epoch improves by 10: training stops after patience, and the first epoch's weights
    # come back.
    assert len(history.history["loss"]) == 3 and stop.stopped_epoch == 2
    np.testing.assert_array_equal(model.get_weights()[0], stop.best_weights[0])
    back = keras.models.load_model(path)
    assert back.predict(x[:3], verbose=0).shape == (3, 3)


def test_save_and_load_model_predict_the_same(tmp_path):
    x, y = blobs()
    model = compiled()
    model.fit(x, y, epochs=2, verbose=0)
    model.save(tmp_path / "m.keras")
    back = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(back.predict(x, verbose=0), model.predict(x, verbose=0))
    assert back.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)
    same = tf.load(tmp_path / "m.keras")
    np.testing.assert_array_equal(same.predict(x, verbose=0), model.predict(x, verbose=0))


def test_what_cannot_be_built_is_refused_naming_the_layer():
    with pytest.raises(NotImplementedError, match="Conv2D"):
        layers.Conv2D(32, 3)
    tanh = keras.Sequential([keras.Input(shape=(8,)),
                             layers.Dense(4, activation="tanh", name="hidden_tanh"),
                             layers.Dense(3, activation="softmax")])
    with pytest.raises(ValueError, match="hidden_tanh.*tanh"):
        tanh.build()
    soft = keras.Sequential([keras.Input(shape=(8,)),
                             layers.Dense(4, activation="softmax", name="soft_hidden"),
                             layers.Dense(3, activation="softmax")])
    with pytest.raises(ValueError, match="soft_hidden.*softmax"):
        soft.build()
    logits = keras.Sequential([keras.Input(shape=(8,)), layers.Dense(4, activation="relu"),
                               layers.Dense(3, name="logit_out")])
    logits.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x, y = blobs()
    with pytest.raises(ValueError, match="logit_out.*from_logits=True"):
        logits.fit(x, y, verbose=0)
    no_flatten = keras.Sequential([keras.Input(shape=(2, 4)), layers.Dense(3)])
    with pytest.raises(ValueError, match="Flatten"):
        no_flatten.build()
    with pytest.raises(ValueError, match="rmsprop"):
        small_model().compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")


def test_bad_input_raises_value_errors():
    x, y = blobs()
    model = compiled()
    with pytest.raises(ValueError, match="samples"):
        model.fit(x, y[:-1], verbose=0)
    with pytest.raises(ValueError, match="shape"):
        model.fit(x[:, :5], y, verbose=0)
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.fit(bad, y, verbose=0)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\)"):
        model.fit(x, y + 3, verbose=0)
    with pytest.raises(TypeError):
        model.fit(np.array([["a"] * 8] * 600, dtype=object), y, verbose=0)


def test_uint8_pixels_stay_packed_behind_rescaling():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, size=400)
    x = (rng.integers(0, 120, size=(400, 4, 4)) + (y[:, None, None] * 120)).astype(np.uint8)
    model = keras.Sequential([keras.Input(shape=(4, 4)), layers.Flatten(),
                              layers.Rescaling(1.0 / 255), layers.Dense(8, activation="relu"),
                              layers.Dense(2, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, epochs=10, verbose=0)
    assert model._network.scaling == "pixels"
    np.testing.assert_allclose(
        model.predict(x, verbose=0), model.predict(x / np.float32(255) * 255, verbose=0),
        atol=1e-6)
    assert model.evaluate(x, y, verbose=0)[1] > 0.9


def test_ctrl_c_stops_after_the_epoch_and_keeps_it():
    x, y = blobs(n=2000)
    model = compiled()
    model.fit(x, y, epochs=1, verbose=0)
    before = model.get_weights()[0].copy()
    seen = []

    def interrupt(epoch, logs=None):
        seen.append(epoch)
        if epoch == 1:
            os.kill(os.getpid(), signal.SIGINT)

    # Python's own Ctrl-C handler, even where pytest was started with SIGINT ignored (a
    # background job), which Python leaves ignored.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            model.fit(x, y, epochs=100, verbose=0,
                      callbacks=[keras.callbacks.LambdaCallback(on_epoch_begin=interrupt)])
    finally:
        signal.signal(signal.SIGINT, previous)
    assert seen == [0, 1]
    assert not np.array_equal(model.get_weights()[0], before)


def test_tf_names_and_keras_imports():
    from gpu_mlp.keras.layers import Dense, Flatten  # noqa: F401
    from gpu_mlp.keras.models import Sequential

    assert tf.keras.Sequential is Sequential
    model = Sequential([Flatten(input_shape=(2, 4)), Dense(5, activation=tf.nn.relu),
                        Dense(3, activation=tf.nn.softmax)])
    model.build()
    assert model.count_params() == 8 * 5 + 5 + 5 * 3 + 3
    onehot = keras.utils.to_categorical([0, 2, 1])
    assert onehot.dtype == np.float32 and onehot.tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 0]]


def test_what_keras_has_and_gpu_mlp_does_not_is_named():
    for make, what in [
        (lambda: keras.optimizers.RMSprop(), "RMSprop"),
        (lambda: keras.losses.BinaryCrossentropy(), "BinaryCrossentropy"),
        (lambda: keras.callbacks.TensorBoard(), "TensorBoard"),
        (lambda: keras.Model(inputs=None, outputs=None), "Sequential"),
    ]:
        with pytest.raises(NotImplementedError, match=what):
            make()
