"""Aggregation strategies: pure functions over (weights, weight) pairs, and the strategy classes
that choose the pair weights from model updates."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from quinkgl.aggregation.update import ModelUpdate
from quinkgl.errors import ConfigurationError
from quinkgl.models.base import Weights


def weighted_average(pairs: Sequence[tuple[Weights, float]]) -> Weights:
    """Average tensors weighted by the given non-negative weights.

    Floating tensors are averaged in float64 and cast back to their dtype; integer tensors
    (counters such as BatchNorm's ``num_batches_tracked``) take the maximum.
    """
    if not pairs:
        raise ConfigurationError("cannot average zero models")
    coefficients = np.array([float(w) for _, w in pairs], dtype=np.float64)
    if (coefficients < 0).any() or not np.isfinite(coefficients).all() or coefficients.sum() <= 0:
        raise ConfigurationError(
            f"averaging weights must be finite, >= 0, not all 0: {coefficients}"
        )
    coefficients /= coefficients.sum()
    first = pairs[0][0]
    merged: Weights = {}
    for name, reference in first.items():
        if reference.dtype.kind == "f":
            total = np.zeros(reference.shape, dtype=np.float64)
            for (weights, _), c in zip(pairs, coefficients, strict=True):
                total += c * weights[name]
            merged[name] = total.astype(reference.dtype)
        else:
            merged[name] = np.maximum.reduce([weights[name] for weights, _ in pairs])
    return merged


class AggregationStrategy(ABC):
    """Merges the local model with received updates."""

    @abstractmethod
    def aggregate(self, local: ModelUpdate, updates: Sequence[ModelUpdate]) -> Weights:
        """The merged weights of ``local`` and ``updates``."""


class FedAvg(AggregationStrategy):
    """Federated Averaging (McMahan et al., "Communication-Efficient Learning of Deep Networks
    from Decentralized Data", AISTATS 2017), applied to the models a gossip node holds.

    Args:
        weight_by: ``"data_size"`` weights each model by its sample count (as in the paper),
            ``"uniform"`` weights all equally, ``"age"`` by the number of training rounds in
            each model (so a freshly joined node's model does not drag an experienced one back).
    """

    WEIGHTINGS = ("data_size", "uniform", "age")

    def __init__(self, weight_by: str = "data_size") -> None:
        if weight_by not in self.WEIGHTINGS:
            raise ConfigurationError(
                f"weight_by must be one of {', '.join(self.WEIGHTINGS)}, got {weight_by!r}"
            )
        self.weight_by = weight_by

    def weight_of(self, update: ModelUpdate) -> float:
        if self.weight_by == "data_size":
            return float(max(update.num_samples, 0))
        if self.weight_by == "age":
            return float(update.age + 1)
        return 1.0

    def aggregate(self, local: ModelUpdate, updates: Sequence[ModelUpdate]) -> Weights:
        models = [local, *updates]
        return weighted_average([(m.weights, self.weight_of(m)) for m in models])

    def __repr__(self) -> str:
        return f"FedAvg(weight_by={self.weight_by!r})"
