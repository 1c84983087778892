from __future__ import annotations

import contextlib
import pickle
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from quinkgl.codec import decode_weights, encode_weights
from quinkgl.codec.frame import HEADER, MAGIC
from quinkgl.errors import (
    CodecError,
    FingerprintMismatchError,
    FrameTooLargeError,
    NonFiniteTensorError,
    ShapeMismatchError,
    TruncatedFrameError,
    UnknownFormatError,
    UnsupportedDtypeError,
)
from quinkgl.models.base import fingerprint


def model_weights(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "layer.weight": rng.standard_normal((8, 4)).astype(np.float32),
        "layer.bias": rng.standard_normal(8).astype(np.float32),
        "bn.count": np.array(3, dtype=np.int64),
    }


tensors = st.dictionaries(
    keys=st.text("abcdefgh.", min_size=1, max_size=8).filter(lambda s: not s.startswith("__")),
    values=hnp.arrays(
        dtype=st.sampled_from([np.float16, np.float32, np.float64, np.int32, np.int64]),
        shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=5),
        elements={"allow_nan": False, "allow_infinity": False},
    ),
    min_size=1,
    max_size=5,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    weights=tensors,
    compression=st.sampled_from(["none", "zstd"]),
    meta=st.dictionaries(st.text(max_size=5), st.integers()),
)
def test_decode_encode_roundtrip(weights, compression, meta):
    frame = encode_weights(weights, metadata=meta, compression=compression)
    decoded = decode_weights(frame, expected=weights)
    assert list(decoded.weights) == list(weights)
    for name, arr in weights.items():
        assert decoded.weights[name].dtype == arr.dtype
        np.testing.assert_array_equal(decoded.weights[name], arr)
    assert decoded.metadata == meta and decoded.compression == compression
    assert decoded.fingerprint == fingerprint(weights)


FRAME = encode_weights(model_weights(), metadata={"sender": "a"}, compression="none")
ZFRAME = encode_weights(model_weights(), metadata={"sender": "a"}, compression="zstd")


@settings(max_examples=400, deadline=None)
@given(data=st.binary(max_size=2048))
def test_random_bytes_raise_our_error_or_decode(data):
    with contextlib.suppress(CodecError):
        decode_weights(data, expected=model_weights())


@settings(max_examples=600, deadline=None)
@given(
    base=st.sampled_from([FRAME, ZFRAME]),
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=8),
    cut=st.none() | st.integers(0, 10_000),
)
def test_mutated_frames_raise_our_error_or_decode(base, edits, cut):
    data = bytearray(base)
    for pos, value in edits:
        data[pos % len(data)] = value
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    try:
        decoded = decode_weights(bytes(data), expected=model_weights())
    except CodecError:
        return
    # A mutation that still decodes must still be a well-formed, finite model of our shape.
    for arr in decoded.weights.values():
        assert arr.dtype.kind != "f" or np.isfinite(arr).all()


def test_refuses_pickles():
    with pytest.raises(UnknownFormatError, match="pickle"):
        decode_weights(pickle.dumps(model_weights()))


def test_refuses_unknown_formats_and_versions():
    with pytest.raises(UnknownFormatError):
        decode_weights(b'{"weights": [1, 2, 3]}' * 3)
    future = bytearray(FRAME)
    future[4] = 9
    with pytest.raises(UnknownFormatError, match="version 9"):
        decode_weights(bytes(future))


def test_refuses_truncated_frames():
    for cut in (0, 3, 10, len(FRAME) // 2, len(FRAME) - 1):
        with pytest.raises((TruncatedFrameError, UnknownFormatError)):
            decode_weights(FRAME[:cut])
    with pytest.raises(TruncatedFrameError):
        decode_weights(ZFRAME[:-5])


def test_refuses_oversized_frames_and_decompression_bombs():
    with pytest.raises(FrameTooLargeError):
        decode_weights(FRAME, max_bytes=len(FRAME) - 1)
    bomb = encode_weights({"z": np.zeros(4_000_000, dtype=np.float32)}, compression="zstd")
    assert len(bomb) < 100_000
    with pytest.raises(FrameTooLargeError, match="document"):
        decode_weights(bomb, max_bytes=1_000_000)
    lying = bytearray(bomb)
    struct.pack_into("<Q", lying, 8, 1000)  # header understates the document size
    with pytest.raises(TruncatedFrameError):
        decode_weights(bytes(lying), max_bytes=1_000_000)


def _reframe(document: bytes) -> bytes:
    return HEADER.pack(MAGIC, 1, 0, 0, len(document)) + document


def test_refuses_dtypes_outside_whitelist():
    document = bytearray(FRAME[HEADER.size :])
    text = document.decode("latin-1").replace('"F32"', '"U8" ', 1)
    with pytest.raises(UnsupportedDtypeError, match="U8"):
        decode_weights(_reframe(text.encode("latin-1")))
    with pytest.raises(Exception, match="dtype"):
        encode_weights({"s": np.array(["text"])})


def test_refuses_shape_and_fingerprint_mismatch():
    other = {"layer.weight": np.zeros((4, 4), np.float32), "layer.bias": np.zeros(8, np.float32)}
    with pytest.raises(ShapeMismatchError):
        decode_weights(encode_weights(other), expected=model_weights())
    with pytest.raises(FingerprintMismatchError):
        decode_weights(encode_weights(other), expected_fingerprint=fingerprint(model_weights()))
    forged = FRAME.replace(fingerprint(model_weights()).encode(), b"0" * 32)
    with pytest.raises(FingerprintMismatchError, match="claims"):
        decode_weights(forged)


def test_refuses_nan_and_inf():
    for bad in (np.nan, np.inf, -np.inf):
        weights = model_weights()
        weights["layer.bias"][3] = bad
        with pytest.raises(NonFiniteTensorError, match="layer.bias"):
            decode_weights(encode_weights(weights))


def test_compression_shrinks_redundant_weights():
    weights = {"w": np.zeros((256, 256), np.float32)}
    assert len(encode_weights(weights, compression="zstd")) < len(encode_weights(weights)) / 10
