from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip(
    "torch", reason="PyTorch is an optional extra: pip install quinkgl[torch]"
)
nn = torch.nn

from quinkgl import PyTorchModel, TrainingConfig  # noqa: E402
from quinkgl.errors import (  # noqa: E402
    ArchitectureMismatchError,
    ConfigurationError,
    NonFiniteWeightsError,
)

pytestmark = pytest.mark.torch


def mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))


def test_mlp_reaches_centralized_reference_on_digits(digits_split):
    train, test = digits_split
    model = PyTorchModel(mlp())
    result = model.train(train, TrainingConfig(epochs=50, learning_rate=1e-3, optimizer="adam"))
    accuracy = model.evaluate(test)["accuracy"]
    assert result.samples == len(train[1])
    assert accuracy >= 0.975 - 0.01


def test_logistic_regression_reaches_reference_on_digits(digits_split):
    train, test = digits_split
    torch.manual_seed(0)
    model = PyTorchModel(nn.Linear(64, 10))
    model.train(train, TrainingConfig(epochs=100, learning_rate=0.01, optimizer="adam"))
    assert model.evaluate(test)["accuracy"] >= 0.967 - 0.01


def test_training_is_reproducible_from_seed(digits_split):
    train, _ = digits_split
    config = TrainingConfig(epochs=2, learning_rate=0.05, seed=7)
    first, second = PyTorchModel(mlp()), PyTorchModel(mlp())
    first.train(train, config, round_seed=3)
    second.train(train, config, round_seed=3)
    for a, b in zip(first.get_weights().values(), second.get_weights().values(), strict=True):
        np.testing.assert_array_equal(a, b)
    third = PyTorchModel(mlp())
    third.train(train, config, round_seed=4)
    assert not np.array_equal(first.get_weights()["0.weight"], third.get_weights()["0.weight"])


def test_training_leaves_global_rng_alone(digits_split):
    train, _ = digits_split
    model = PyTorchModel(mlp())
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    model.train(train, TrainingConfig(epochs=1))
    assert torch.equal(torch.rand(3), expected)


def test_weights_roundtrip_and_fingerprint():
    model = PyTorchModel(mlp(0))
    other = PyTorchModel(mlp(1))
    assert model.fingerprint == other.fingerprint
    other.set_weights(model.get_weights())
    for a, b in zip(model.get_weights().values(), other.get_weights().values(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert list(model.get_weights()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_reinitialize_from_a_seed_makes_models_equal():
    class Custom(nn.Module):  # a parameter outside any layer with reset_parameters
        def __init__(self) -> None:
            super().__init__()
            self.body = mlp(torch.seed() % 1000)
            self.scale = nn.Parameter(torch.randn(10))

        def forward(self, x):
            return self.body(x) * self.scale

    a, b = PyTorchModel(Custom()), PyTorchModel(Custom())
    a.reinitialize(11)
    b.reinitialize(11)
    for x, y in zip(a.get_weights().values(), b.get_weights().values(), strict=True):
        np.testing.assert_array_equal(x, y)
    c = PyTorchModel(Custom())
    c.reinitialize(12)
    assert not np.array_equal(a.get_weights()["body.0.weight"], c.get_weights()["body.0.weight"])


def test_refuses_other_architecture_and_non_finite():
    model = PyTorchModel(mlp())
    wrong = PyTorchModel(nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)))
    assert model.fingerprint != wrong.fingerprint
    with pytest.raises(ArchitectureMismatchError, match="0.weight"):
        model.set_weights(wrong.get_weights())
    poisoned = model.get_weights()
    poisoned["2.bias"][0] = np.nan
    before = model.get_weights()
    with pytest.raises(NonFiniteWeightsError, match="2.bias"):
        model.set_weights(poisoned)
    np.testing.assert_array_equal(model.get_weights()["2.bias"], before["2.bias"])


def test_one_thread_by_default_and_bad_input_errors():
    PyTorchModel(mlp())
    assert torch.get_num_threads() == 1
    with pytest.raises(ConfigurationError, match="nn.Module"):
        PyTorchModel("not a module")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="pair"):
        PyTorchModel(mlp()).train(np.zeros((3, 64)), TrainingConfig())
    with pytest.raises(ConfigurationError, match="optimizer"):
        TrainingConfig(optimizer="lbfgs")


def test_buffers_are_weights_and_grad_clip_runs(digits_split):
    train, _ = digits_split
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 10))
    model = PyTorchModel(net)
    names = list(model.get_weights())
    assert "1.running_mean" in names and "1.num_batches_tracked" in names
    result = model.train(train, TrainingConfig(epochs=1, grad_clip=1.0, weight_decay=1e-4))
    assert np.isfinite(result.loss) and 0 <= result.accuracy <= 1
