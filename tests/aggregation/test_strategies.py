from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quinkgl import FedAvg, ModelUpdate
from quinkgl.aggregation import weighted_average
from quinkgl.errors import ConfigurationError


def weights(seed: int) -> dict[str, np.ndarray]:
    r = np.random.default_rng(seed)
    return {
        "w": r.standard_normal((3, 4)).astype(np.float32),
        "b": r.standard_normal(4).astype(np.float32),
        "count": np.array(seed, dtype=np.int64),
    }


@settings(max_examples=50, deadline=None)
@given(
    seed=st.integers(0, 1000), coefficients=st.lists(st.floats(0.01, 100), min_size=1, max_size=6)
)
def test_averaging_identical_models_is_a_fixed_point(seed, coefficients):
    model = weights(seed)
    merged = weighted_average([(model, c) for c in coefficients])
    for name in model:
        np.testing.assert_allclose(merged[name], model[name], rtol=1e-6, atol=1e-6)
        assert merged[name].dtype == model[name].dtype


@settings(max_examples=50, deadline=None)
@given(seeds=st.lists(st.integers(0, 1000), min_size=2, max_size=6), data=st.data())
def test_aggregation_is_order_independent(seeds, data):
    pairs = [(weights(s), float(i + 1)) for i, s in enumerate(seeds)]
    shuffled = data.draw(st.permutations(pairs))
    a, b = weighted_average(pairs), weighted_average(shuffled)
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-6, atol=1e-6)


def test_fedavg_weights_by_data_size_uniform_and_age():
    zero = {"w": np.zeros(2, np.float32)}
    one = {"w": np.ones(2, np.float32)}
    local = ModelUpdate("me", zero, num_samples=30, age=1)
    peer = ModelUpdate("p", one, num_samples=10, age=7)
    assert FedAvg("data_size").aggregate(local, [peer])["w"][0] == pytest.approx(0.25)
    assert FedAvg("uniform").aggregate(local, [peer])["w"][0] == pytest.approx(0.5)
    assert FedAvg("age").aggregate(local, [peer])["w"][0] == pytest.approx(8 / 10)
    with pytest.raises(ConfigurationError, match="weight_by"):
        FedAvg("loss")


def test_integer_tensors_take_the_maximum():
    merged = weighted_average([(weights(3), 1.0), (weights(9), 1.0)])
    assert int(merged["count"]) == 9


def test_invalid_coefficients_are_refused():
    with pytest.raises(ConfigurationError):
        weighted_average([])
    with pytest.raises(ConfigurationError):
        weighted_average([(weights(0), 0.0)])
    with pytest.raises(ConfigurationError):
        weighted_average([(weights(0), float("nan"))])
