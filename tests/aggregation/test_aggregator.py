from __future__ import annotations

import zlib

import numpy as np
import pytest

from quinkgl import AggregatorSettings, FedAvg, ModelAggregator, PeerInfo, protocol
from quinkgl.codec import encode_weights


def model(value: float = 0.0) -> dict[str, np.ndarray]:
    return {"w": np.full((2, 3), value, np.float32), "b": np.full(3, value, np.float32)}


def node(node_id: str, samples: int = 10, **settings) -> ModelAggregator:
    agg = ModelAggregator(
        node_id,
        model(0.0),
        num_samples=samples,
        strategy=FedAvg("data_size"),
        settings=AggregatorSettings(**settings),
        rng=np.random.default_rng(zlib.crc32(node_id.encode())),
    )
    return agg


def frame(weights, **meta) -> bytes:
    base = {"samples": 10, "age": 1, "incarnation": "abc", "version": 1, "round": 1}
    base.update(meta)
    return protocol.pack(protocol.MODEL, encode_weights(weights, base))


def test_two_nodes_exchange_and_merge():
    a, b = node("a", samples=10), node("b", samples=30)
    a.peer_seen(PeerInfo("b"), 0.0)
    b.peer_seen(PeerInfo("a"), 0.0)
    a.begin_round()
    [out] = a.finish_round(model(1.0), now=1.0)
    assert out.peer_id == "b" and a.age == 1 and a.stats["models_sent"] == 1
    assert b.receive("a", out.data, now=1.1) == []
    assert list(b.pending) == ["a"]
    merged = b.begin_round()
    # b (30 samples, zeros) merged with a (10 samples, ones): 10 / 40
    np.testing.assert_allclose(merged["w"], 0.25)
    assert b.age == 1 and not b.pending


def test_duplicates_and_stale_models_are_refused_and_merging_is_idempotent():
    b = node("b")
    b.receive("a", frame(model(1.0), version=5), 0.0)
    b.receive("a", frame(model(1.0), version=5), 0.0)  # the network duplicated it
    b.receive("a", frame(model(9.0), version=3), 0.0)  # a late, older model
    assert b.rejections == {"duplicate": 1, "stale": 1}
    merged = b.begin_round()
    np.testing.assert_allclose(merged["w"], 0.5)
    b.receive("a", frame(model(1.0), version=5), 0.0)
    assert b.begin_round() is merged and b.rejections["duplicate"] == 2
    b.receive("a", frame(model(1.0), incarnation="new", version=0), 0.0)  # sender restarted
    assert "a" in b.pending


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"garbage", "malformed"),
        (protocol.PREFIX + b"\x01" + b"\x80\x04pickle", "malformed"),
        (frame({"w": np.zeros((3, 3), np.float32)}), "architecture"),
        (frame({"w": np.zeros((2, 3), np.float64), "b": np.zeros(3, np.float64)}), "architecture"),
        (frame(model(np.nan)), "non_finite"),
        (frame(model(np.inf)), "non_finite"),
        (frame(model(1.0), samples=-4), "bad_metadata"),
        (frame(model(1.0), age="old"), "bad_metadata"),
        (frame(model(1.0), incarnation=None), "bad_metadata"),
        (protocol.PREFIX + b"\x02" + b"[1, 2]", "malformed"),
    ],
)
def test_bad_input_is_counted_and_dropped_without_harm(data, reason):
    b = node("b")
    before = {k: v.copy() for k, v in b.weights.items()}
    assert b.receive("mallory", data, 0.0) == []
    assert b.rejections == {reason: 1}
    assert not b.pending
    # an honest update still gets through afterwards
    b.receive("a", frame(model(1.0)), 0.0)
    assert list(b.pending) == ["a"]
    for k in before:
        np.testing.assert_array_equal(b.weights[k], before[k])


def test_oversized_frames_are_refused():
    b = node("b", max_frame_bytes=100)
    b.receive("a", frame(model(1.0)), 0.0)
    assert b.rejections == {"too_large": 1}


def test_claimed_sample_counts_are_bounded():
    b = node("b", samples=10, max_sample_ratio=2.0)
    b.receive("a", frame(model(1.0), samples=100_000), 0.0)
    assert b.pending["a"].num_samples == 20
    merged = b.begin_round()
    np.testing.assert_allclose(merged["w"], 20 / 30, rtol=1e-6)


def test_pending_queue_is_bounded():
    b = node("b", max_pending=3)
    for i in range(5):
        b.receive(f"p{i}", frame(model(1.0)), 0.0)
    assert list(b.pending) == ["p2", "p3", "p4"]
    assert b.rejections["overflow"] == 2


def test_messages_from_ourselves_are_refused():
    b = node("b")
    b.receive("b", frame(model(1.0)), 0.0)
    assert b.rejections == {"self": 1}


def test_non_finite_local_training_keeps_the_old_model():
    a = node("a")
    a.peer_seen(PeerInfo("b"), 0.0)
    bad = model(1.0)
    bad["b"][0] = np.nan
    a.finish_round(bad, 1.0)
    assert a.rejections["local_non_finite"] == 1
    np.testing.assert_array_equal(a.weights["w"], 0.0)


def test_rejections_are_logged_once_per_reason(caplog):
    b = node("b")
    with caplog.at_level("WARNING", logger="quinkgl.aggregation.aggregator"):
        for _ in range(20):
            b.receive("mallory", b"garbage", 0.0)
    assert b.rejections["malformed"] == 20
    assert len(caplog.records) == 1
