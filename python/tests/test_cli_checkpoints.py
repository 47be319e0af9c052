"""One model format: the command line's checkpoints load in Python with the same
predictions, and Python's load in the command line (`gpu-mlp eval`)."""

import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

import gpu_mlp

ROOT = Path(__file__).resolve().parents[2]
CLI = Path(os.environ.get("GPU_MLP_BIN", ROOT / "target" / "release" / "gpu-mlp")).resolve()
MNIST = Path(os.environ.get("GPU_MLP_DATA", ROOT.parent / "shared" / "data")) / "mnist"


@pytest.fixture(scope="module")
def cli():
    if not CLI.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CLI} is missing: build it with `cargo build --release` first")
        pytest.skip(f"{CLI} is not built")
    return str(CLI)


def cli_eval(cli, model):
    out = subprocess.run([cli, "eval", "--model", str(model), "--data", str(MNIST)],
                         capture_output=True, text=True, timeout=300, check=True).stdout
    loss, accuracy = re.search(r"test loss: ([0-9.]+) - test accuracy: ([0-9.]+)", out).groups()
    return float(loss), float(accuracy)


def test_a_cli_checkpoint_predicts_the_same_in_python(cli, tmp_path):
    model = tmp_path / "cli.safetensors"
    subprocess.run([cli, "train", "--data", str(MNIST), "--train-samples", "3000", "--epochs",
                    "1", "--backend", "cpu", "--save", str(model)],
                   capture_output=True, timeout=300, check=True)
    (_, _), (x_test, y_test) = gpu_mlp.keras.datasets.mnist.load_data()
    loaded = gpu_mlp.load(model)
    loaded.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    loss, accuracy = loaded.evaluate(x_test / 255.0, y_test, verbose=0)
    cli_loss, cli_accuracy = cli_eval(cli, model)
    # The command line prints 4 decimals; the accuracy is the same count of right answers.
    assert accuracy == cli_accuracy and abs(loss - cli_loss) <= 6e-5
    # uint8 pixels are scaled as the command line scales them.
    np.testing.assert_allclose(loaded.predict(x_test[:50], verbose=0),
                               loaded.predict(x_test[:50] / np.float32(255), verbose=0),
                               atol=1e-6)
    est = gpu_mlp.MLPClassifier.load(model)
    assert est.score(x_test.reshape(-1, 784) / 255.0, y_test) == accuracy


def test_a_python_checkpoint_is_read_by_the_cli(cli, tmp_path):
    (x_train, y_train), (x_test, y_test) = gpu_mlp.keras.datasets.mnist.load_data()
    model = gpu_mlp.keras.Sequential([
        gpu_mlp.keras.layers.Flatten(input_shape=(28, 28)),
        gpu_mlp.keras.layers.Dense(32, activation="relu"),
        gpu_mlp.keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train[:3000] / 255.0, y_train[:3000], epochs=1, verbose=0)
    path = tmp_path / "python.safetensors"
    model.save(path)
    loss, accuracy = model.evaluate(x_test / 255.0, y_test, verbose=0)
    cli_loss, cli_accuracy = cli_eval(cli, path)
    assert accuracy == cli_accuracy and abs(loss - cli_loss) <= 6e-5


def test_a_table_model_keeps_its_column_names_through_python(cli, tmp_path):
    rng = np.random.default_rng(3)
    table = tmp_path / "t.csv"
    rows = ["height,width,weight,label"]
    for i in range(60):
        c = i % 3
        rows.append(",".join(f"{v:.3f}" for v in rng.normal(c, 0.3, 3)) + f",{c}")
    table.write_text("\n".join(rows) + "\n")
    model = tmp_path / "table.safetensors"
    subprocess.run([cli, "train", "--data", str(table), "--epochs", "2", "--backend", "cpu",
                    "--save", str(model)], capture_output=True, timeout=300, check=True)
    network = gpu_mlp._core.Network.load(str(model))
    assert network.feature_names == ["height", "width", "weight"]
    again = tmp_path / "again.safetensors"
    gpu_mlp.MLPClassifier.load(model).save(again)
    assert gpu_mlp._core.Network.load(str(again)).feature_names == ["height", "width", "weight"]
