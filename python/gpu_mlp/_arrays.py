"""Arrays on their way to the engine: made 2-D and C-contiguous once, ``float32`` or ``uint8``
kept as they are (borrowed by the engine's reader), anything else converted once."""

import numpy as np


def rows(x, keep_uint8=False):
    """``x`` (``n × …``) as ``n`` rows of features: a view where the layout allows."""
    x = np.asarray(x)
    if x.ndim == 0:
        raise ValueError(f"expected an array of samples, got a scalar: {x!r}")
    n = x.shape[0]
    dtype = np.uint8 if keep_uint8 and x.dtype == np.uint8 else np.float32
    return np.ascontiguousarray(x.reshape(n, -1) if x.ndim != 2 else x, dtype=dtype)


def class_indices(y, classes):
    """Labels as ``uint16`` indices into ``classes`` (sorted, as ``np.unique`` gives them)."""
    idx = np.searchsorted(classes, y)
    idx = np.clip(idx, 0, len(classes) - 1)
    unseen = classes[idx] != y
    if np.any(unseen):
        raise ValueError(
            f"y contains labels not seen in fit: {np.unique(np.asarray(y)[unseen]).tolist()[:10]}"
        )
    return np.ascontiguousarray(idx, dtype=np.uint16)


def seed_of(random_state):
    """A 64-bit seed from ``None`` (fresh), an int, or a ``numpy.random.RandomState``."""
    if random_state is None:
        return int(np.random.randint(0, 2**31 - 1))
    if isinstance(random_state, (int, np.integer)):
        return int(random_state) & (2**63 - 1)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**31 - 1))
    raise ValueError(f"random_state={random_state!r} cannot seed a random number generator")
