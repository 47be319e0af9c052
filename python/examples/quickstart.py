"""TensorFlow 2 quickstart for beginners (tensorflow.org/tutorials/quickstart/beginner), with
one line changed: ``import gpu_mlp as tf`` instead of ``import tensorflow as tf``.

GPU_MLP_EXAMPLE_SAMPLES=N trains on the first N images only (the tests do, to stay quick)."""

import os

import gpu_mlp as tf

print("gpu_mlp version:", tf.__version__)

mnist = tf.keras.datasets.mnist

(x_train, y_train), (x_test, y_test) = mnist.load_data()
x_train, x_test = x_train / 255.0, x_test / 255.0

subset = int(os.environ.get("GPU_MLP_EXAMPLE_SAMPLES", "0")) or None
x_train, y_train = x_train[:subset], y_train[:subset]

model = tf.keras.models.Sequential([
  tf.keras.layers.Flatten(input_shape=(28, 28)),
  tf.keras.layers.Dense(128, activation='relu'),
  tf.keras.layers.Dropout(0.2),
  tf.keras.layers.Dense(10)
])

predictions = model(x_train[:1]).numpy()
print(predictions)

print(tf.nn.softmax(predictions).numpy())

loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)

print(loss_fn(y_train[:1], predictions).numpy())

model.compile(optimizer='adam',
              loss=loss_fn,
              metrics=['accuracy'])

model.fit(x_train, y_train, epochs=5)

loss, accuracy = model.evaluate(x_test,  y_test, verbose=2)

probability_model = tf.keras.Sequential([
  model,
  tf.keras.layers.Softmax()
])

print(probability_model(x_test[:5]))
print(f"test accuracy {accuracy:.4f}")
