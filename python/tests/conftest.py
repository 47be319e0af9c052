import numpy as np
import pytest


@pytest.fixture
def blobs():
    """Three separable clouds of 5 features: 300 samples."""
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=4.0, size=(3, 5))
    y = rng.integers(0, 3, size=300)
    X = centres[y] + rng.normal(size=(300, 5))
    return X, y
