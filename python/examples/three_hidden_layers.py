"""A Keras MNIST classifier of three hidden layers of 128 ReLU units and a softmax output, as
written for standalone Keras, with the imports changed from ``keras`` to ``gpu_mlp.keras``.

GPU_MLP_EXAMPLE_SAMPLES=N trains on the first N images only (the tests do, to stay quick)."""

import os

from gpu_mlp.keras.datasets import mnist
from gpu_mlp.keras.layers import Dense, Flatten
from gpu_mlp.keras.models import Sequential

(x_train, y_train), (x_test, y_test) = mnist.load_data()
x_train = x_train.astype("float32") / 255
x_test = x_test.astype("float32") / 255

subset = int(os.environ.get("GPU_MLP_EXAMPLE_SAMPLES", "0")) or None
x_train, y_train = x_train[:subset], y_train[:subset]

model = Sequential()
model.add(Flatten(input_shape=(28, 28)))
model.add(Dense(128, activation="relu"))
model.add(Dense(128, activation="relu"))
model.add(Dense(128, activation="relu"))
model.add(Dense(10, activation="softmax"))
model.summary()

model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
history = model.fit(x_train, y_train, batch_size=32, epochs=5, verbose=2)

score = model.evaluate(x_test, y_test, verbose=0)
print("Test loss:", score[0])
print("Test accuracy:", score[1])
model.save(os.environ.get("GPU_MLP_EXAMPLE_SAVE", "mnist_784_128x3.safetensors"))
