"""Model updates, aggregation strategies and the gossip learning cycle."""

from quinkgl.aggregation.aggregator import AggregatorSettings, ModelAggregator, Outgoing
from quinkgl.aggregation.strategies import AggregationStrategy, FedAvg, weighted_average
from quinkgl.aggregation.update import ModelUpdate

__all__ = [
    "AggregationStrategy",
    "AggregatorSettings",
    "FedAvg",
    "ModelAggregator",
    "ModelUpdate",
    "Outgoing",
    "weighted_average",
]
