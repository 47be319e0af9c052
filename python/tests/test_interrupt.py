"""Ctrl-C while the engine trains (the GIL released) ends `fit` with KeyboardInterrupt after
the epoch in progress, and the model keeps its last finished epoch."""

import signal
import subprocess
import sys
import time

SCRIPT = r"""
import sys
import numpy as np
import gpu_mlp as tf

rng = np.random.default_rng(0)
x = rng.random((20000, 50), dtype=np.float32)
y = (x[:, 0] > 0.5).astype(int)
model = tf.keras.Sequential([tf.keras.Input(shape=(50,)),
                             tf.keras.layers.Dense(64, activation="relu"),
                             tf.keras.layers.Dense(2, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
before = model.get_weights()[0].copy()
try:
    model.fit(x, y, epochs=100000, batch_size=32, verbose=2)
except KeyboardInterrupt:
    after = model.get_weights()[0]
    print("KeyboardInterrupt; trained:", not np.array_equal(before, after), flush=True)
    sys.exit(3)
"""


def test_sigint_stops_training_within_an_epoch():
    # The child starts with SIGINT at its default, as from a terminal, even where this test
    # runs as a background job (which starts with SIGINT ignored, and Python then keeps it so).
    child = subprocess.Popen([sys.executable, "-u", "-c", SCRIPT], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines = []
    try:
        for line in child.stdout:
            lines.append(line)
            if line.startswith("Epoch 2/"):
                child.send_signal(signal.SIGINT)
                sent = time.monotonic()
                break
        rest, err = child.communicate(timeout=60)
    finally:
        child.kill()
    lines += rest.splitlines()
    assert child.returncode == 3, "".join(lines) + err
    assert time.monotonic() - sent < 30
    epochs = [line for line in lines if line.startswith("Epoch ")]
    assert len(epochs) <= 3, lines
    assert "KeyboardInterrupt; trained: True" in lines[-1]
