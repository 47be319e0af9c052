"""``tf.random.set_seed``: seeds gpu-mlp's Keras models (see ``keras.utils.set_random_seed``)."""


def set_seed(seed):
    from .keras.utils import set_random_seed

    set_random_seed(seed)
