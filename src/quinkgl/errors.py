"""The one exception tree of QuinkGL.

Every error the library raises on purpose derives from :class:`QuinkGLError`::

    QuinkGLError
    ├── ConfigurationError        a setting or argument is invalid (also a ValueError)
    ├── DatasetError              a dataset is missing, corrupt or cannot be fetched
    │   └── DatasetUnavailableError   not on this machine and not downloadable now
    ├── SplitError                a federated split cannot be made (also a ValueError)
    ├── ModelError                a model cannot be used as asked
    │   ├── ArchitectureMismatchError weights of another architecture
    │   └── NonFiniteWeightsError     NaN or Inf in weights
    ├── CodecError                bytes that are not an acceptable model frame
    │   ├── UnknownFormatError        not our format (pickles included)
    │   ├── TruncatedFrameError       the frame ends early or is inconsistent
    │   ├── FrameTooLargeError        the frame (or its decompressed form) exceeds the cap
    │   ├── UnsupportedDtypeError     a tensor dtype outside the whitelist
    │   ├── ShapeMismatchError        tensor names or shapes differ from what was expected
    │   ├── FingerprintMismatchError  the architecture fingerprint differs
    │   └── NonFiniteTensorError      NaN or Inf in a tensor
    ├── UpdateRejected            an incoming model update was refused (carries a reason)
    └── TransportError            a transport cannot do what was asked
"""

from __future__ import annotations


class QuinkGLError(Exception):
    """Base class of every error QuinkGL raises on purpose."""


class ConfigurationError(QuinkGLError, ValueError):
    """A setting or argument is invalid; the message says which and how to fix it."""


class DatasetError(QuinkGLError):
    """A dataset is missing, corrupt or cannot be read."""


class DatasetUnavailableError(DatasetError):
    """A dataset is neither on this machine nor downloadable right now."""


class SplitError(QuinkGLError, ValueError):
    """A federated split cannot be made with the given data and settings."""


class ModelError(QuinkGLError):
    """A model cannot be used as asked."""


class ArchitectureMismatchError(ModelError):
    """Weights belong to another architecture (names, shapes or dtypes differ)."""


class NonFiniteWeightsError(ModelError):
    """Weights contain NaN or Inf."""


class CodecError(QuinkGLError):
    """Bytes that are not an acceptable model frame."""


class UnknownFormatError(CodecError):
    """The bytes are not a QuinkGL model frame (pickles are refused here)."""


class TruncatedFrameError(CodecError):
    """The frame ends early or its parts are inconsistent."""


class FrameTooLargeError(CodecError):
    """The frame, or its decompressed content, is larger than allowed."""


class UnsupportedDtypeError(CodecError):
    """A tensor has a dtype outside the whitelist."""


class ShapeMismatchError(CodecError):
    """Tensor names or shapes differ from the expected architecture."""


class FingerprintMismatchError(CodecError):
    """The frame's architecture fingerprint differs from the expected one."""


class NonFiniteTensorError(CodecError):
    """A tensor contains NaN or Inf."""


class UpdateRejected(QuinkGLError):
    """An incoming model update was refused; ``reason`` is a short stable key."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class TransportError(QuinkGLError):
    """A transport cannot do what was asked (closed, unknown peer, message too large)."""
