from __future__ import annotations

import numpy as np
import pytest

from quinkgl.data import DatasetLoader, train_test_split


@pytest.fixture(scope="session")
def digits_split() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Digits, 80/20 stratified split with seed 0 (the reference setting)."""
    (x, y), _ = DatasetLoader().load_digits()
    return train_test_split((x, y), 0.2, seed=0)
