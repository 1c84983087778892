"""Datasets and federated splits."""

from quinkgl.data.loader import DatasetInfo, DatasetLoader, train_test_split
from quinkgl.data.splitter import FederatedDataSplitter, FederatedSplit, Partition

__all__ = [
    "DatasetInfo",
    "DatasetLoader",
    "FederatedDataSplitter",
    "FederatedSplit",
    "Partition",
    "train_test_split",
]
