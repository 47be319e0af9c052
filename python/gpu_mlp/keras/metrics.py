"""``keras.metrics``: the accuracies gpu-mlp measures while training."""


class Metric:
    default_name = "accuracy"

    def __init__(self, name=None, dtype=None):
        self.name = name or self.default_name


class Accuracy(Metric):
    pass


class SparseCategoricalAccuracy(Metric):
    default_name = "sparse_categorical_accuracy"


class CategoricalAccuracy(Metric):
    default_name = "categorical_accuracy"
