"""Model weights <-> bytes, safe to decode from strangers.

A frame is a 16-byte header followed by a safetensors document, optionally zstd-compressed::

    offset  size  field
    0       4     magic b"QGLW"
    4       1     format version (1)
    5       1     compression: 0 none, 1 zstd
    6       2     reserved, zero
    8       8     size of the safetensors document, little-endian (before compression)
    16      ...   the safetensors document (or its zstd compression)

The safetensors metadata carries ``quinkgl.version``, the tensor order, the architecture
fingerprint and the caller's metadata (a JSON object).  Decoding never unpickles, evaluates or
imports anything; it checks sizes before allocating, dtypes against a whitelist, the fingerprint
against the tensors it describes, shapes against an expected architecture, and finiteness.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import safetensors
import safetensors.numpy
import zstandard

from quinkgl.errors import (
    ConfigurationError,
    FingerprintMismatchError,
    FrameTooLargeError,
    NonFiniteTensorError,
    ShapeMismatchError,
    TruncatedFrameError,
    UnknownFormatError,
    UnsupportedDtypeError,
)
from quinkgl.models.base import Weights, architecture_spec, fingerprint

MAGIC = b"QGLW"
FORMAT_VERSION = 1
HEADER = struct.Struct("<4sBBHQ")
COMPRESSIONS = {"none": 0, "zstd": 1}
_COMPRESSION_NAMES = {v: k for k, v in COMPRESSIONS.items()}

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
"""Default cap on a frame and on its decompressed document (256 MiB)."""

# safetensors dtype tag -> numpy dtype; anything else is refused.
DTYPES: dict[str, np.dtype[Any]] = {
    "F16": np.dtype("<f2"),
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
    "I32": np.dtype("<i4"),
    "I64": np.dtype("<i8"),
}
_NUMPY_TO_TAG = {dt: tag for tag, dt in DTYPES.items()}

_PICKLE_PREFIXES = tuple(bytes([0x80, proto]) for proto in range(2, 6))
_META_PREFIX = "quinkgl."


@dataclass(frozen=True)
class DecodedFrame:
    """What a frame held: weights in their original order, the fingerprint and metadata."""

    weights: Weights
    fingerprint: str
    metadata: dict[str, Any] = field(default_factory=dict)
    compression: str = "none"


def encode_weights(
    weights: Mapping[str, np.ndarray],
    metadata: Mapping[str, Any] | None = None,
    compression: str = "none",
    level: int = 3,
) -> bytes:
    """Encode ``weights`` (and JSON-able ``metadata``) as a frame."""
    if compression not in COMPRESSIONS:
        raise ConfigurationError(
            f"compression must be one of {', '.join(COMPRESSIONS)}, got {compression!r}"
        )
    if not weights:
        raise ConfigurationError("cannot encode an empty set of weights")
    tensors: dict[str, np.ndarray] = {}
    for name, arr in weights.items():
        array = np.asarray(arr)
        dtype = array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype
        array = np.asarray(array, dtype=dtype, order="C")
        if array.dtype not in _NUMPY_TO_TAG:
            raise ConfigurationError(
                f"tensor {name!r} has dtype {array.dtype}; supported: float16/32/64, int32/64"
            )
        if name.startswith("__"):
            raise ConfigurationError(f"tensor names may not start with '__': {name!r}")
        tensors[name] = array
    header_meta = {
        f"{_META_PREFIX}version": str(FORMAT_VERSION),
        f"{_META_PREFIX}order": json.dumps(list(tensors)),
        f"{_META_PREFIX}fingerprint": fingerprint(tensors),
        f"{_META_PREFIX}meta": json.dumps(dict(metadata or {}), separators=(",", ":")),
    }
    document = safetensors.numpy.save(tensors, metadata=header_meta)
    payload = document
    if compression == "zstd":
        payload = zstandard.ZstdCompressor(level=level).compress(document)
    return HEADER.pack(MAGIC, FORMAT_VERSION, COMPRESSIONS[compression], 0, len(document)) + payload


def decode_weights(
    data: bytes,
    expected: Mapping[str, np.ndarray] | None = None,
    expected_fingerprint: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> DecodedFrame:
    """Decode a frame, refusing anything unsafe or unexpected with a :class:`CodecError`.

    Args:
        data: the frame.
        expected: weights of the receiving model; names, shapes and dtypes must match them.
        expected_fingerprint: the receiver's architecture fingerprint, if ``expected`` is absent.
        max_bytes: cap on the frame and on the decompressed document.
    """
    data = bytes(data)
    if len(data) > max_bytes:
        raise FrameTooLargeError(f"frame of {len(data)} bytes exceeds the cap of {max_bytes}")
    if data.startswith(_PICKLE_PREFIXES):
        raise UnknownFormatError("refusing a pickle: QuinkGL never unpickles received data")
    if len(data) < HEADER.size:
        raise (
            TruncatedFrameError(f"frame of {len(data)} bytes is shorter than its header")
            if MAGIC.startswith(data[:4])
            else UnknownFormatError("not a QuinkGL model frame")
        )
    magic, version, compression, reserved, doc_size = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise UnknownFormatError("not a QuinkGL model frame (bad magic)")
    if version != FORMAT_VERSION:
        raise UnknownFormatError(f"unsupported frame version {version} (this build reads 1)")
    if compression not in _COMPRESSION_NAMES or reserved:
        raise UnknownFormatError(f"unknown compression {compression} or reserved bits set")
    if doc_size > max_bytes:
        raise FrameTooLargeError(f"document of {doc_size} bytes exceeds the cap of {max_bytes}")
    document = _decompress(data[HEADER.size :], compression, doc_size)
    frame = _parse_document(document)
    _check_expectations(frame, expected, expected_fingerprint)
    for name, arr in frame.weights.items():
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise NonFiniteTensorError(f"tensor {name!r} contains NaN or Inf")
    return DecodedFrame(
        frame.weights, frame.fingerprint, frame.metadata, _COMPRESSION_NAMES[compression]
    )


def _decompress(payload: bytes, compression: int, doc_size: int) -> bytes:
    if compression == COMPRESSIONS["none"]:
        document = payload
    else:
        try:
            reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(payload))
            document = reader.read(doc_size + 1)
        except zstandard.ZstdError as exc:
            raise TruncatedFrameError(f"corrupt zstd payload: {exc}") from None
    if len(document) != doc_size:
        raise TruncatedFrameError(
            f"header promises a {doc_size}-byte document, payload gives {len(document)}"
        )
    return document


def _parse_document(document: bytes) -> DecodedFrame:
    if len(document) < 8:
        raise TruncatedFrameError("safetensors document shorter than its length prefix")
    (header_len,) = struct.unpack_from("<Q", document)
    if header_len > len(document) - 8:
        raise TruncatedFrameError("safetensors header runs past the end of the document")
    try:
        header = json.loads(document[8 : 8 + header_len])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TruncatedFrameError(f"safetensors header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise TruncatedFrameError("safetensors header is not a JSON object")
    meta = header.get("__metadata__")
    if not isinstance(meta, dict) or meta.get(f"{_META_PREFIX}version") != str(FORMAT_VERSION):
        raise UnknownFormatError("safetensors document without QuinkGL metadata")
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(entry, dict) or entry.get("dtype") not in DTYPES:
            dtype = entry.get("dtype") if isinstance(entry, dict) else None
            raise UnsupportedDtypeError(f"tensor {name!r} has unsupported dtype {dtype!r}")
    try:
        order = json.loads(meta[f"{_META_PREFIX}order"])
        claimed = str(meta[f"{_META_PREFIX}fingerprint"])
        user_meta = json.loads(meta[f"{_META_PREFIX}meta"])
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise TruncatedFrameError(f"QuinkGL metadata incomplete: {exc}") from None
    if not isinstance(user_meta, dict) or not isinstance(order, list):
        raise TruncatedFrameError("QuinkGL metadata has the wrong types")
    try:
        tensors = dict(safetensors.deserialize(document))
    except Exception as exc:  # safetensors raises its own error type, and others on odd input
        raise TruncatedFrameError(f"invalid safetensors document: {exc}") from None
    if sorted(order) != sorted(tensors) or len(order) != len(tensors):
        raise ShapeMismatchError("tensor order in metadata does not match the tensors present")
    weights: Weights = {}
    for name in order:
        entry = tensors[name]
        dtype = DTYPES.get(entry["dtype"])
        if dtype is None:
            raise UnsupportedDtypeError(f"tensor {name!r} has unsupported dtype {entry['dtype']!r}")
        shape = tuple(int(d) for d in entry["shape"])
        buffer = entry["data"]
        if len(buffer) != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
            raise TruncatedFrameError(f"tensor {name!r}: data size does not match its shape")
        weights[name] = np.frombuffer(buffer, dtype=dtype).reshape(shape)
    if not weights:
        raise TruncatedFrameError("frame holds no tensors")
    actual = fingerprint(weights)
    if actual != claimed:
        raise FingerprintMismatchError(
            f"frame claims fingerprint {claimed[:12]}... but its tensors give {actual[:12]}..."
        )
    return DecodedFrame(weights, actual, user_meta)


def _check_expectations(
    frame: DecodedFrame,
    expected: Mapping[str, np.ndarray] | None,
    expected_fingerprint: str | None,
) -> None:
    if expected is not None:
        want = architecture_spec(expected)
        got = architecture_spec(frame.weights)
        if want != got:
            diff = next(
                (f"{w} vs {g}" for w, g in zip(want, got, strict=False) if w != g),
                f"{len(want)} tensors expected, {len(got)} received",
            )
            raise ShapeMismatchError(f"weights do not fit the local model: {diff}")
    elif expected_fingerprint is not None and expected_fingerprint != frame.fingerprint:
        raise FingerprintMismatchError(
            f"architecture {frame.fingerprint[:12]}... differs from the local "
            f"{expected_fingerprint[:12]}..."
        )


__all__ = [
    "COMPRESSIONS",
    "DEFAULT_MAX_BYTES",
    "DecodedFrame",
    "decode_weights",
    "encode_weights",
]
