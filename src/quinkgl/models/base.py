"""The model contract the rest of QuinkGL talks to.

A :class:`ModelWrapper` exposes a framework model as an ordered mapping of tensor name to numpy
array, trains it on ``(X, y)`` arrays and evaluates it.  Aggregation, the codec and the network only
ever see those numpy arrays, so PyTorch and TensorFlow models gossip through the same code.
"""

from __future__ import annotations

import hashlib
import json
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from quinkgl.errors import ArchitectureMismatchError, ConfigurationError, NonFiniteWeightsError

Weights = dict[str, np.ndarray]
"""Ordered mapping of tensor name to array; insertion order is the architecture's order."""

OPTIMIZERS = ("sgd", "adam")


@dataclass(frozen=True)
class TrainingConfig:
    """How a node trains locally each time it trains.

    ``seed`` makes batch order reproducible; each call to ``train`` may pass a different
    ``round_seed`` so rounds do not repeat the same order.
    """

    epochs: int = 1
    batch_size: int = 32
    learning_rate: float = 0.01
    optimizer: str = "sgd"
    momentum: float = 0.0
    weight_decay: float = 0.0
    grad_clip: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ConfigurationError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ConfigurationError(f"batch_size must be >= 1, got {self.batch_size}")
        if not self.learning_rate > 0:
            raise ConfigurationError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigurationError(
                f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}"
            )
        if self.weight_decay < 0:
            raise ConfigurationError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if not 0 <= self.momentum < 1:
            raise ConfigurationError(f"momentum must be in [0, 1), got {self.momentum}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ConfigurationError(f"grad_clip must be > 0 or None, got {self.grad_clip}")


@dataclass(frozen=True)
class TrainingResult:
    """What one call to :meth:`ModelWrapper.train` did."""

    loss: float
    accuracy: float
    samples: int
    duration: float
    metrics: dict[str, float] = field(default_factory=dict)


def scheduled_learning_rate(
    base: float, schedule: str, floor: float, index: int, total: int | None
) -> float:
    """The learning rate of round ``index`` (from 0) of ``total`` under ``schedule``:
    "constant", or "cosine", which decays from ``base`` to ``floor * base`` by the last round."""
    if schedule == "constant" or not total or total <= 1:
        return base
    progress = min(index, total - 1) / (total - 1)
    return base * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def as_training_arrays(data: Any) -> tuple[np.ndarray, np.ndarray]:
    """Check ``data`` is an ``(X, y)`` pair of equal length and return it as arrays."""
    try:
        features, labels = data
    except (TypeError, ValueError):
        raise ConfigurationError(
            "data must be an (X, y) pair of arrays, e.g. a partition from FederatedDataSplitter"
        ) from None
    features = np.asarray(features)
    labels = np.asarray(labels)
    if features.shape[0] != labels.shape[0]:
        raise ConfigurationError(
            f"X has {features.shape[0]} samples but y has {labels.shape[0]}; they must match"
        )
    if features.shape[0] == 0:
        raise ConfigurationError("data is empty: a node needs at least one sample to train")
    return features, labels


def architecture_spec(weights: Mapping[str, np.ndarray]) -> list[tuple[str, tuple[int, ...], str]]:
    """Names, shapes and dtypes of ``weights``, in order."""
    return [
        (name, tuple(int(d) for d in arr.shape), arr.dtype.str) for name, arr in weights.items()
    ]


def fingerprint(weights: Mapping[str, np.ndarray]) -> str:
    """A short hash of the architecture (names, shapes, dtypes): equal for compatible models."""
    spec = [[name, list(shape), dtype] for name, shape, dtype in architecture_spec(weights)]
    digest = hashlib.sha256(json.dumps(spec, separators=(",", ":")).encode()).hexdigest()
    return digest[:32]


def seeded_initialization(
    weights: Mapping[str, np.ndarray], seed: int, channels_last: bool, names: set[str] | None = None
) -> Weights:
    """Weights drawn from ``seed`` and the shapes alone (never from the current values).

    Floating tensors of two or more dimensions get Glorot-uniform values (the channel dimensions
    are the last two with ``channels_last``, else the first two); other floating tensors that are
    not constant (PyTorch's random biases) become zeros; constant tensors (zero biases,
    normalisation scales) and integer tensors stay.  Only ``names`` are redrawn, if given.
    """
    fresh: Weights = {}
    for index, (name, arr) in enumerate(weights.items()):
        if (names is not None and name not in names) or arr.dtype.kind != "f":
            fresh[name] = arr
        elif arr.ndim >= 2:
            channels = arr.shape[-2:] if channels_last else arr.shape[:2]
            receptive = arr.size // (channels[0] * channels[1]) if arr.size else 1
            bound = float(np.sqrt(6.0 / (receptive * (channels[0] + channels[1]))))
            rng = np.random.default_rng([seed, index])
            fresh[name] = rng.uniform(-bound, bound, size=arr.shape).astype(arr.dtype)
        elif arr.size and np.all(arr == arr.flat[0]):
            fresh[name] = arr
        else:
            fresh[name] = np.zeros_like(arr)
    return fresh


def check_finite(weights: Mapping[str, np.ndarray]) -> None:
    """Raise :class:`NonFiniteWeightsError` naming the first tensor holding NaN or Inf."""
    for name, arr in weights.items():
        if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
            raise NonFiniteWeightsError(f"tensor {name!r} contains NaN or Inf")


def check_compatible(expected: Mapping[str, np.ndarray], given: Mapping[str, np.ndarray]) -> None:
    """Raise :class:`ArchitectureMismatchError` saying how ``given`` differs from ``expected``."""
    want = {name: (shape, dtype) for name, shape, dtype in architecture_spec(expected)}
    got = {name: (shape, dtype) for name, shape, dtype in architecture_spec(given)}
    if want == got:
        return
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    if missing or extra:
        raise ArchitectureMismatchError(
            f"weights do not fit this model: missing {missing[:5]}, unexpected {extra[:5]}"
        )
    for name in want:
        if want[name] != got[name]:
            raise ArchitectureMismatchError(
                f"tensor {name!r}: model has shape/dtype {want[name]}, weights have {got[name]}"
            )


class ModelWrapper(ABC):
    """A trainable classifier seen as numpy weights.  Subclass it to support a new framework."""

    @abstractmethod
    def get_weights(self) -> Weights:
        """Return a copy of every tensor (parameters and buffers), in a stable order."""

    @abstractmethod
    def _load_weights(self, weights: Weights) -> None:
        """Copy already validated ``weights`` into the framework model."""

    @abstractmethod
    def train(self, data: Any, config: TrainingConfig, round_seed: int = 0) -> TrainingResult:
        """Train on ``data`` (an ``(X, y)`` pair) and say what happened."""

    @abstractmethod
    def predict(self, features: np.ndarray) -> np.ndarray:
        """Class scores (logits or probabilities), one row per sample."""

    def set_weights(self, weights: Mapping[str, np.ndarray]) -> None:
        """Replace the model's weights after checking architecture and finiteness."""
        given = {name: np.asarray(arr) for name, arr in weights.items()}
        check_compatible(self.get_weights(), given)
        check_finite(given)
        self._load_weights(given)

    def reinitialize(self, seed: int) -> None:
        """Redraw the model from ``seed`` alone, so that every node calling this with one seed
        holds the same model whichever process built it (gossip learning needs one shared
        starting point).  The default draws :func:`seeded_initialization`; framework wrappers
        override it to use their layers' own initialisers."""
        self.set_weights(seeded_initialization(self.get_weights(), seed, channels_last=True))

    @property
    def fingerprint(self) -> str:
        """Architecture fingerprint; models that can exchange weights share it."""
        return fingerprint(self.get_weights())

    @property
    def num_parameters(self) -> int:
        return int(sum(arr.size for arr in self.get_weights().values()))

    def evaluate(self, data: Any, batch_size: int = 1024) -> dict[str, float]:
        """Accuracy and cross-entropy loss on ``data``."""
        features, labels = as_training_arrays(data)
        scores = np.concatenate(
            [
                self.predict(features[i : i + batch_size])
                for i in range(0, len(features), batch_size)
            ]
        )
        return classification_metrics(scores, labels)


def classification_metrics(scores: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Accuracy and mean cross-entropy from raw scores (softmax is applied when needed)."""
    scores = scores.astype(np.float64)
    if scores.min() < 0 or not np.allclose(scores.sum(axis=1), 1.0, atol=1e-3):
        shifted = scores - scores.max(axis=1, keepdims=True)
        probs = np.exp(shifted)
        probs /= probs.sum(axis=1, keepdims=True)
    else:
        probs = scores
    labels = labels.astype(np.int64)
    picked = probs[np.arange(len(labels)), labels]
    loss = float(-np.log(np.clip(picked, 1e-12, 1.0)).mean())
    accuracy = float((probs.argmax(axis=1) == labels).mean())
    return {"accuracy": accuracy, "loss": loss, "samples": float(len(labels))}
