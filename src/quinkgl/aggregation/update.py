"""A model as one node offers it to another."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from quinkgl.models.base import Weights


@dataclass(frozen=True)
class ModelUpdate:
    """A peer's model, as received (or about to be sent).

    Attributes:
        sender: the sending peer's id (over the network, the verified one, never a claim).
        weights: the model's tensors.
        num_samples: samples the sender trains on (bounded by the receiver before use).
        age: how many local training rounds have gone into this model (max over merges).
        model_id: unique per sender incarnation and model version; merging is idempotent on it.
        round: the sender's round counter when it sent the model.
        metadata: anything else the sender attached (informative only).
    """

    sender: str
    weights: Weights
    num_samples: int
    age: int = 0
    model_id: str = ""
    round: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)
