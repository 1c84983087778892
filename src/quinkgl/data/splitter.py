"""Federated splits: one partition of a dataset per node, IID or skewed the ways the literature
studies (Dirichlet label skew as in Hsu et al. 2019, pathological shards as in McMahan et al. 2017,
quantity skew).  Every sample lands in exactly one partition; the same seed gives the same split.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple, overload

import numpy as np

from quinkgl.errors import SplitError

MIN_SAMPLES_PER_NODE = 1


class Partition(NamedTuple):
    """One node's data; unpacks as ``X, y``."""

    X: np.ndarray
    y: np.ndarray


class FederatedSplit(Sequence[Partition]):
    """The partitions of a split, indexable per node, with the sample indices behind each."""

    def __init__(
        self, features: np.ndarray, labels: np.ndarray, indices: list[np.ndarray], method: str
    ) -> None:
        self.indices = indices
        self.method = method
        self.num_classes = int(labels.max()) + 1 if len(labels) else 0
        self._partitions = [Partition(features[idx], labels[idx]) for idx in indices]

    @overload
    def __getitem__(self, index: int) -> Partition: ...
    @overload
    def __getitem__(self, index: slice) -> list[Partition]: ...
    def __getitem__(self, index: int | slice) -> Partition | list[Partition]:
        return self._partitions[index]

    def __len__(self) -> int:
        return len(self._partitions)

    def __iter__(self) -> Iterator[Partition]:
        return iter(self._partitions)

    def summary(self) -> list[dict[str, Any]]:
        """Samples and label histogram per node, ready for a table or JSON."""
        return [
            {
                "node": i,
                "samples": len(part.y),
                "labels": np.bincount(part.y, minlength=self.num_classes).tolist(),
            }
            for i, part in enumerate(self._partitions)
        ]


class FederatedDataSplitter:
    """Splits ``(X, y)`` into one partition per node.

    Args:
        seed: the split is a function of the data, the settings and this seed alone.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def _rng(self, method: str) -> np.random.Generator:
        return np.random.default_rng([self.seed, zlib.crc32(method.encode())])

    @staticmethod
    def _check(features: Any, labels: Any, num_nodes: int) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(features)
        y = np.asarray(labels)
        if len(x) != len(y):
            raise SplitError(f"X has {len(x)} samples but y has {len(y)}")
        if y.ndim != 1 or (len(y) and (y.dtype.kind not in "iu" or y.min() < 0)):
            raise SplitError("labels must be a 1-D array of non-negative integers")
        if not isinstance(num_nodes, int | np.integer) or num_nodes < 1:
            raise SplitError(f"num_nodes must be a positive integer, got {num_nodes!r}")
        if num_nodes * MIN_SAMPLES_PER_NODE > len(y):
            raise SplitError(
                f"cannot give {num_nodes} nodes at least {MIN_SAMPLES_PER_NODE} sample each "
                f"from {len(y)} samples; use fewer nodes"
            )
        return x, y

    def _check_skew(
        self, X: Any, y: Any, num_nodes: int, alpha: float, min_samples: int
    ) -> tuple[np.ndarray, np.ndarray]:
        if not alpha > 0:
            raise SplitError(f"alpha must be > 0, got {alpha}")
        x, labels = self._check(X, y, num_nodes)
        if num_nodes * min_samples > len(labels):
            raise SplitError(
                f"{num_nodes} nodes x {min_samples} min_samples exceeds {len(labels)} samples"
            )
        return x, labels

    def create_iid_split(self, X: Any, y: Any, num_nodes: int) -> FederatedSplit:
        """Shuffle and deal samples out evenly (sizes differ by at most one)."""
        x, labels = self._check(X, y, num_nodes)
        order = self._rng("iid").permutation(len(labels))
        return FederatedSplit(x, labels, list(np.array_split(order, num_nodes)), "iid")

    def create_dirichlet_split(
        self, X: Any, y: Any, num_nodes: int, alpha: float = 0.5, min_samples: int = 2
    ) -> FederatedSplit:
        """Label skew: each class is divided among nodes in proportions drawn from Dir(alpha).

        Small ``alpha`` (0.1) gives nodes few classes; large (100) approaches IID.  Nodes left
        with fewer than ``min_samples`` samples take samples from the largest nodes.
        """
        x, labels = self._check_skew(X, y, num_nodes, alpha, min_samples)
        rng = self._rng("dirichlet")
        buckets: list[list[np.ndarray]] = [[] for _ in range(num_nodes)]
        for cls in np.unique(labels):
            members = rng.permutation(np.flatnonzero(labels == cls))
            shares = rng.dirichlet(np.full(num_nodes, alpha))
            cuts = (np.cumsum(shares)[:-1] * len(members)).astype(int)
            for node, part in enumerate(np.split(members, cuts)):
                buckets[node].append(part)
        indices = [np.concatenate(b) if b else np.empty(0, dtype=np.int64) for b in buckets]
        return FederatedSplit(x, labels, _top_up(indices, min_samples), "dirichlet")

    def create_shard_split(
        self, X: Any, y: Any, num_nodes: int, classes_per_node: int = 2
    ) -> FederatedSplit:
        """Pathological non-IID: sort by label, cut into ``num_nodes * classes_per_node`` shards
        and give each node ``classes_per_node`` shards (so it sees about that many classes)."""
        x, labels = self._check(X, y, num_nodes)
        if classes_per_node < 1:
            raise SplitError(f"classes_per_node must be >= 1, got {classes_per_node}")
        num_shards = num_nodes * classes_per_node
        if num_shards > len(labels):
            raise SplitError(
                f"{num_shards} shards ({num_nodes} nodes x {classes_per_node}) exceed "
                f"{len(labels)} samples"
            )
        rng = self._rng("shards")
        # Stable sort after a shuffle: shards hold one class where possible, random within it.
        shuffled = rng.permutation(len(labels))
        by_label = shuffled[np.argsort(labels[shuffled], kind="stable")]
        shards = np.array_split(by_label, num_shards)
        deal = rng.permutation(num_shards).reshape(num_nodes, classes_per_node)
        indices = [np.concatenate([shards[s] for s in row]) for row in deal]
        return FederatedSplit(x, labels, indices, "shards")

    def create_quantity_skew_split(
        self, X: Any, y: Any, num_nodes: int, alpha: float = 1.0, min_samples: int = 2
    ) -> FederatedSplit:
        """Quantity skew: IID labels, node sizes in proportions drawn from Dir(alpha)."""
        x, labels = self._check_skew(X, y, num_nodes, alpha, min_samples)
        rng = self._rng("quantity")
        order = rng.permutation(len(labels))
        shares = rng.dirichlet(np.full(num_nodes, alpha))
        cuts = (np.cumsum(shares)[:-1] * len(labels)).astype(int)
        indices = _top_up(list(np.split(order, cuts)), min_samples)
        return FederatedSplit(x, labels, indices, "quantity")


def _top_up(indices: list[np.ndarray], min_samples: int) -> list[np.ndarray]:
    """Move samples from the largest partitions to those below ``min_samples`` (deterministic)."""
    parts = [list(map(int, idx)) for idx in indices]
    for node, part in enumerate(parts):
        while len(part) < min_samples:
            donor = max(range(len(parts)), key=lambda i: len(parts[i]))
            if donor == node or len(parts[donor]) <= min_samples:
                raise SplitError("not enough samples to give every node min_samples")
            part.append(parts[donor].pop())
    return [np.array(p, dtype=np.int64) for p in parts]
