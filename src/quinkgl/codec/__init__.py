"""Safe, versioned model frames: weights <-> bytes for the wire and for disk."""

from quinkgl.codec.frame import (
    COMPRESSIONS,
    DEFAULT_MAX_BYTES,
    DecodedFrame,
    decode_weights,
    encode_weights,
)

__all__ = ["COMPRESSIONS", "DEFAULT_MAX_BYTES", "DecodedFrame", "decode_weights", "encode_weights"]
