"""The bytes nodes exchange: a 4-byte envelope, then a model frame or a topology message.

    offset  size  field
    0       2     b"QG"
    2       1     protocol version (1)
    3       1     kind: 1 model (a codec frame follows), 2 topology (a JSON object follows)

Topology bodies are small JSON objects (capped at ``MAX_TOPOLOGY_BYTES``); JSON is parsed, never
evaluated.  Model bodies go through :func:`quinkgl.codec.decode_weights`.
"""

from __future__ import annotations

import json
from typing import Any

from quinkgl.errors import CodecError, UnknownFormatError

PREFIX = b"QG\x01"
MODEL = 1
TOPOLOGY = 2
MAX_TOPOLOGY_BYTES = 64 * 1024


def pack(kind: int, body: bytes) -> bytes:
    return PREFIX + bytes([kind]) + body


def pack_topology(message: dict[str, Any]) -> bytes:
    return pack(TOPOLOGY, json.dumps(message, separators=(",", ":")).encode())


def unpack(data: bytes) -> tuple[int, bytes]:
    """Split an envelope into kind and body, refusing anything that is not ours."""
    if len(data) < 4 or not data.startswith(PREFIX):
        raise UnknownFormatError("not a QuinkGL message (bad prefix or version)")
    kind = data[3]
    if kind not in (MODEL, TOPOLOGY):
        raise UnknownFormatError(f"unknown message kind {kind}")
    return kind, data[4:]


def parse_topology(body: bytes) -> dict[str, Any]:
    if len(body) > MAX_TOPOLOGY_BYTES:
        raise CodecError(f"topology message of {len(body)} bytes exceeds {MAX_TOPOLOGY_BYTES}")
    try:
        message = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CodecError(f"topology message is not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise CodecError("topology message is not a JSON object")
    return message
