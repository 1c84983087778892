from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quinkgl import FederatedDataSplitter
from quinkgl.errors import SplitError


def dataset(n: int, classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, size=n)
    x = np.arange(n, dtype=np.float32)[:, None]  # feature = index, to trace samples
    return x, y


def split(method: str, splitter: FederatedDataSplitter, x, y, nodes: int, param: float):
    if method == "iid":
        return splitter.create_iid_split(x, y, nodes)
    if method == "dirichlet":
        return splitter.create_dirichlet_split(x, y, nodes, alpha=param, min_samples=1)
    if method == "shards":
        return splitter.create_shard_split(x, y, nodes, classes_per_node=int(param))
    return splitter.create_quantity_skew_split(x, y, nodes, alpha=param, min_samples=1)


METHODS = st.sampled_from(["iid", "dirichlet", "shards", "quantity"])


@settings(max_examples=60, deadline=None)
@given(
    method=METHODS,
    n=st.integers(20, 300),
    classes=st.integers(1, 10),
    nodes=st.integers(1, 10),
    param=st.sampled_from([0.05, 0.5, 1.0, 2.0, 100.0]),
    seed=st.integers(0, 2**31),
)
def test_every_sample_in_exactly_one_partition(method, n, classes, nodes, param, seed):
    x, y = dataset(n, classes, seed % 1000)
    shard_param = 1.0 if param < 1 else 2.0  # 10 nodes x 2 shards fit in 20 samples
    result = split(
        method,
        FederatedDataSplitter(seed),
        x,
        y,
        nodes,
        shard_param if method == "shards" else param,
    )
    assert len(result) == nodes
    all_idx = np.concatenate(result.indices)
    assert sorted(all_idx.tolist()) == list(range(n))
    for part, idx in zip(result, result.indices, strict=True):
        assert len(part.y) >= 1
        np.testing.assert_array_equal(part.X[:, 0], idx.astype(np.float32))
        np.testing.assert_array_equal(part.y, y[idx])
    assert sum(row["samples"] for row in result.summary()) == n


@settings(max_examples=20, deadline=None)
@given(method=METHODS, seed=st.integers(0, 2**31))
def test_same_seed_same_split(method, seed):
    x, y = dataset(200, 5)
    a = split(method, FederatedDataSplitter(seed), x, y, 7, 2.0)
    b = split(method, FederatedDataSplitter(seed), x, y, 7, 2.0)
    for ia, ib in zip(a.indices, b.indices, strict=True):
        np.testing.assert_array_equal(ia, ib)


def test_iid_sizes_and_dirichlet_skew():
    x, y = dataset(1000, 10)
    splitter = FederatedDataSplitter(0)
    sizes = [len(p.y) for p in splitter.create_iid_split(x, y, 7)]
    assert max(sizes) - min(sizes) <= 1
    skewed = splitter.create_dirichlet_split(x, y, 10, alpha=0.1)
    flat = splitter.create_dirichlet_split(x, y, 10, alpha=1000.0)

    def classes_seen(s):
        return np.mean([np.count_nonzero(row["labels"]) for row in s.summary()])

    assert classes_seen(skewed) < classes_seen(flat)
    assert classes_seen(flat) == 10


def test_shards_limit_classes_per_node():
    x, y = dataset(2000, 10)
    result = FederatedDataSplitter(1).create_shard_split(x, y, 20, classes_per_node=2)
    assert max(np.count_nonzero(r["labels"]) for r in result.summary()) <= 4


def test_seed_usage_unpacks_like_the_readme():
    x, y = dataset(100, 3)
    splits = FederatedDataSplitter(seed=42).create_iid_split(x, y, num_nodes=5)
    features, labels = splits[0]
    assert len(features) == len(labels) == 20


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s, x, y: s.create_iid_split(x, y, 11), "fewer nodes"),
        (lambda s, x, y: s.create_dirichlet_split(x, y, 2, alpha=0), "alpha must be > 0"),
        (lambda s, x, y: s.create_dirichlet_split(x, y, 2, alpha=-1), "alpha must be > 0"),
        (lambda s, x, y: s.create_shard_split(x, y, 5, classes_per_node=3), "shards"),
        (lambda s, x, y: s.create_iid_split(x, y[:5], 2), "samples"),
        (lambda s, x, y: s.create_iid_split(x, y, 0), "positive"),
    ],
)
def test_impossible_requests_raise_clear_errors(call, message):
    x, y = dataset(10, 2)
    with pytest.raises(SplitError, match=message):
        call(FederatedDataSplitter(0), x, y)
