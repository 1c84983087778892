"""TensorFlowModel against real tensorflow-cpu (installed by the test command)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip(
    "tensorflow", reason="TensorFlow is an optional extra: pip install quinkgl[tensorflow]"
)
import keras

from quinkgl import TensorFlowModel, TrainingConfig
from quinkgl.errors import ArchitectureMismatchError, ConfigurationError

pytestmark = pytest.mark.tensorflow


def mlp(seed: int = 0, hidden: int = 128) -> keras.Model:
    init = keras.initializers.GlorotUniform(seed=seed)
    return keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(hidden, activation="relu", kernel_initializer=init),
            keras.layers.Dense(10, kernel_initializer=keras.initializers.GlorotUniform(seed + 1)),
        ]
    )


def test_mlp_reaches_centralized_reference_on_digits(digits_split):
    train, test = digits_split
    model = TensorFlowModel(mlp())
    result = model.train(train, TrainingConfig(epochs=40, learning_rate=1e-3, optimizer="adam"))
    assert result.samples == len(train[1])
    assert model.evaluate(test)["accuracy"] >= 0.975 - 0.01


def test_weights_roundtrip_fingerprint_and_mismatch():
    a, b = TensorFlowModel(mlp(0)), TensorFlowModel(mlp(5))
    assert a.fingerprint == b.fingerprint
    b.set_weights(a.get_weights())
    for x, y in zip(a.get_weights().values(), b.get_weights().values(), strict=True):
        np.testing.assert_array_equal(x, y)
    other = TensorFlowModel(mlp(0, hidden=32))
    with pytest.raises(ArchitectureMismatchError):
        a.set_weights(other.get_weights())


def test_same_seed_same_training(digits_split):
    train, _ = digits_split
    config = TrainingConfig(epochs=1, learning_rate=0.05, seed=3)
    a, b = TensorFlowModel(mlp()), TensorFlowModel(mlp())
    a.train(train, config)
    b.train(train, config)
    for x, y in zip(a.get_weights().values(), b.get_weights().values(), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-6)


def test_reinitialize_from_a_seed_makes_models_equal():
    a, b = TensorFlowModel(mlp(0)), TensorFlowModel(mlp(9))
    a.reinitialize(5)
    b.reinitialize(5)
    for x, y in zip(a.get_weights().values(), b.get_weights().values(), strict=True):
        np.testing.assert_array_equal(x, y)
    assert np.abs(a.get_weights()["0.kernel"]).max() > 0


def test_unbuilt_model_is_refused():
    with pytest.raises(ConfigurationError, match="not built"):
        TensorFlowModel(keras.Sequential([keras.layers.Dense(3)]))
