"""Shared pieces of experiments: held-out data and the centralized baseline."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from quinkgl.data import (
    DatasetInfo,
    DatasetLoader,
    FederatedDataSplitter,
    FederatedSplit,
    train_test_split,
)
from quinkgl.errors import ConfigurationError
from quinkgl.models.base import TrainingConfig
from quinkgl.models.zoo import build_model


@dataclass(frozen=True)
class ExperimentData:
    """Training data (to be split among nodes) and a shared held-out test set."""

    train: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    info: DatasetInfo


def load_experiment_data(dataset: str, test_fraction: float, seed: int) -> ExperimentData:
    """Load ``dataset``; use its official test split if it has one, else a stratified split."""
    loader = DatasetLoader()
    if dataset in ("fashion_mnist", "mnist", "cifar10"):
        train, info = loader.load(dataset, split="train")
        test, _ = loader.load(dataset, split="test")
        return ExperimentData(train, test, info)
    data, info = loader.load(dataset)
    train, test = train_test_split(data, test_fraction, seed)
    return ExperimentData(train, test, info)


def split_data(
    train: tuple[np.ndarray, np.ndarray],
    method: str,
    nodes: int,
    seed: int,
    alpha: float = 0.5,
    classes_per_node: int = 2,
) -> FederatedSplit:
    """Split ``train`` among ``nodes`` by ``method`` ("iid", "dirichlet", "shards", "quantity").

    Every process of a real swarm calls this with the same arguments and takes its own part."""
    splitter = FederatedDataSplitter(seed)
    x, y = train
    if method == "iid":
        return splitter.create_iid_split(x, y, nodes)
    if method == "dirichlet":
        return splitter.create_dirichlet_split(x, y, nodes, alpha)
    if method == "shards":
        return splitter.create_shard_split(x, y, nodes, classes_per_node)
    if method == "quantity":
        return splitter.create_quantity_skew_split(x, y, nodes, alpha)
    raise ConfigurationError(f"unknown split {method!r}; choose iid, dirichlet, shards or quantity")


def train_centralized(
    data: ExperimentData,
    model_name: str,
    config: TrainingConfig,
    epochs: int,
    seed: int,
    learning_rate_at: Callable[[int], float] | None = None,
) -> dict[str, Any]:
    """Train the model on the union of the data for ``epochs`` epochs: the reference that gossip
    learning is compared with.  ``learning_rate_at(epoch)`` gives a schedule, so the baseline can
    follow the same one as the nodes.  Returns final accuracy and loss and the per-epoch history."""
    model = build_model(model_name, data.info.feature_shape, data.info.num_classes, seed)
    start = time.perf_counter()
    history = []
    for epoch in range(epochs):
        epoch_config = config
        if learning_rate_at is not None:
            epoch_config = replace(config, learning_rate=learning_rate_at(epoch))
        model.train(data.train, epoch_config, round_seed=epoch)
        metrics = model.evaluate(data.test)
        history.append(
            {"epoch": epoch + 1, "accuracy": metrics["accuracy"], "loss": metrics["loss"]}
        )
    return {
        "accuracy": history[-1]["accuracy"],
        "loss": history[-1]["loss"],
        "epochs": epochs,
        "history": history,
        "wall_seconds": time.perf_counter() - start,
    }
