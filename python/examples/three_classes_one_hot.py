"""A three-class Keras tutorial: one-hot labels from ``to_categorical``,
``categorical_crossentropy``, 20% of the training data held out with ``validation_split``,
and early stopping on the validation loss. Written for ``tf.keras``; only the import differs.

The data are three overlapping clouds of 4 measurements (like the iris flowers)."""

import numpy as np

import gpu_mlp as tf
from gpu_mlp.keras.utils import to_categorical

rng = np.random.default_rng(7)
centres = np.array([[5.0, 3.4, 1.5, 0.2], [5.9, 2.8, 4.3, 1.3], [6.6, 3.0, 5.6, 2.0]])
spread = np.array([0.35, 0.35, 0.45, 0.25])
labels = rng.integers(0, 3, size=600)
features = centres[labels] + rng.normal(size=(600, 4)) * spread

x_train, x_test = features[:480], features[480:]
y_train, y_test = to_categorical(labels[:480], 3), to_categorical(labels[480:], 3)

model = tf.keras.Sequential([
    tf.keras.Input(shape=(4,)),
    tf.keras.layers.Dense(16, activation="relu"),
    tf.keras.layers.Dense(16, activation="relu"),
    tf.keras.layers.Dense(3, activation="softmax"),
])
model.compile(
    optimizer=tf.keras.optimizers.Adam(learning_rate=0.01),
    loss="categorical_crossentropy",
    metrics=["accuracy"],
)
stop = tf.keras.callbacks.EarlyStopping(monitor="val_loss", patience=10, restore_best_weights=True)
history = model.fit(
    x_train, y_train, epochs=150, batch_size=16, validation_split=0.2, callbacks=[stop], verbose=0
)
print("epochs trained:", len(history.history["loss"]))
print("history keys:", sorted(history.history))
loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
print(f"test accuracy {accuracy:.4f}")
