"""Datasets for experiments: bundled, packaged, downloaded, or the user's own.

Every loader returns ``(X, y), info``: ``X`` float32 features, ``y`` int64 labels in
``0..num_classes-1``, and a :class:`DatasetInfo` describing them.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from quinkgl.data.download import RemoteFile, default_cache_dir, fetch, fetch_all
from quinkgl.data.idx import (
    CIFAR10_TEST_MEMBERS,
    CIFAR10_TRAIN_MEMBERS,
    read_cifar10_archive,
    read_idx,
)
from quinkgl.errors import ConfigurationError, DatasetError, DatasetUnavailableError

logger = logging.getLogger(__name__)

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip

IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
CIFAR10_FILE = RemoteFile(
    filename="cifar-10-binary.tar.gz",
    urls=("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",),
    md5="c32a1d4ab5d03f1284b67883e8d87530",
)

SPLITS = ("train", "test")


@dataclass(frozen=True)
class DatasetInfo:
    """What a loaded dataset is."""

    name: str
    num_samples: int
    num_classes: int
    feature_shape: tuple[int, ...]
    class_names: tuple[str, ...] = ()
    source: str = ""
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def num_features(self) -> int:
        return int(np.prod(self.feature_shape))


def _finish(
    name: str,
    features: np.ndarray,
    labels: np.ndarray,
    source: str,
    class_names: tuple[str, ...] = (),
    **notes: Any,
) -> tuple[tuple[np.ndarray, np.ndarray], DatasetInfo]:
    x = np.ascontiguousarray(features, dtype=np.float32)
    y = np.ascontiguousarray(labels, dtype=np.int64)
    num_classes = len(class_names) if class_names else int(y.max()) + 1
    info = DatasetInfo(
        name=name,
        num_samples=len(y),
        num_classes=num_classes,
        feature_shape=tuple(int(d) for d in x.shape[1:]),
        class_names=tuple(class_names) or tuple(str(i) for i in range(num_classes)),
        source=source,
        notes=dict(notes),
    )
    return (x, y), info


def _standardize(x: np.ndarray) -> np.ndarray:
    std = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)


class DatasetLoader:
    """Loads datasets as ``(X, y), info``.

    Args:
        cache_dir: where downloaded datasets live (default ``$QUINKGL_DATA`` or
            ``~/.cache/quinkgl/datasets``).
    """

    def __init__(self, cache_dir: str | Path | None = None, timeout: float = 30.0) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.timeout = timeout
        self.mnist_mirrors: tuple[str, ...] = MNIST_MIRRORS
        self.cifar10_file: RemoteFile = CIFAR10_FILE

    NAMES = ("iris", "digits", "wine", "breast_cancer", "fashion_mnist", "mnist", "cifar10")

    def load(self, name: str, **kwargs: Any) -> tuple[tuple[np.ndarray, np.ndarray], DatasetInfo]:
        """Load a dataset by name (one of :attr:`NAMES`)."""
        key = name.lower().replace("-", "_")
        if key not in self.NAMES:
            raise ConfigurationError(
                f"unknown dataset {name!r}; choose from {', '.join(self.NAMES)}"
            )
        method = getattr(self, f"load_{key}")
        result: tuple[tuple[np.ndarray, np.ndarray], DatasetInfo] = method(**kwargs)
        return result

    # -- bundled with scikit-learn ------------------------------------------------------------

    def _sklearn(
        self, name: str, standardize: bool
    ) -> tuple[tuple[np.ndarray, np.ndarray], DatasetInfo]:
        from sklearn import datasets

        bunch = getattr(datasets, f"load_{name}")()
        x = np.asarray(bunch.data, dtype=np.float64)
        if standardize:
            x = _standardize(x)
        names = tuple(str(n) for n in getattr(bunch, "target_names", ()))
        return _finish(
            name, x, bunch.target, "scikit-learn (bundled)", names, standardized=standardize
        )

    def load_iris(
        self, standardize: bool = True
    ) -> tuple[tuple[np.ndarray, np.ndarray], DatasetInfo]:
        """Iris: 150 samples, 4 features, 3 classes (features standardized by default)."""
        return self._sklearn("iris", standardize)

    def load_wine(
        self, standardize: bool = True
    ) -> tuple[tuple[np.ndarray, np.ndarray], DatasetInfo]:
        """Wine: 178 samples, 13 features, 3 classes (features standardized by default)."""
        return self._sklearn("wine", standardize)

    def load_breast_cancer(
        self, standardize: bool = True
    ) -> tuple[tuple[np.ndarray, np.ndarray], DatasetInfo]:
        """Breast cancer: 569 samples, 30 features, 2 classes (standardized by default)."""
        return self._sklearn("breast_cancer", standardize)

    def load_digits(self) -> tuple[tuple[np.ndarray, np.ndarray], DatasetInfo]:
        """Digits: 1,797 8x8 images as 64 features scaled to [0, 1], 10 classes."""
        from sklearn import datasets

        bunch = datasets.load_digits()
        names = tuple(str(i) for i in range(10))
        return _finish("digits", bunch.data / 16.0, bunch.target, "scikit-learn (bundled)", names)

    # -- image datasets -----------------------------------------------------------------------

    @staticmethod
    def _check_split(split: str) -> None:
        if split not in SPLITS:
            raise ConfigurationError(f"split must be 'train' or 'test', got {split!r}")

    def _idx_pair(self, directory: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
        images_name, labels_name = IDX_FILES[split]
        images = read_idx(directory / images_name)
        labels = read_idx(directory / labels_name)
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DatasetError(
                f"{directory}: images {images.shape} and labels {labels.shape} do not pair up"
            )
        return images[:, None, :, :].astype(np.float32) / 255.0, labels

    def load_fashion_mnist(
        self, split: str = "train", path: str | Path | None = None
    ) -> tuple[tuple[np.ndarray, np.ndarray], DatasetInfo]:
        """Fashion-MNIST (60k train / 10k test, 1x28x28 in [0, 1]) from official gzipped IDX files.

        By default they are read from the Debian package ``dataset-fashion-mnist``.
        """
        self._check_split(split)
        directory = Path(path) if path is not None else FASHION_MNIST_DIR
        missing = [n for n in IDX_FILES[split] if not (directory / n).exists()]
        if missing:
            hint = (
                "install the Debian package dataset-fashion-mnist "
                "(apt-get install dataset-fashion-mnist)"
                if path is None
                else "give the directory holding the official gzipped IDX files"
            )
            raise DatasetUnavailableError(
                f"Fashion-MNIST not found: {directory} lacks {', '.join(missing)}; {hint}"
            )
        x, y = self._idx_pair(directory, split)
        return _finish("fashion_mnist", x, y, str(directory), FASHION_MNIST_CLASSES, split=split)

    def load_mnist(self, split: str = "train") -> tuple[tuple[np.ndarray, np.ndarray], DatasetInfo]:
        """MNIST (60k train / 10k test, 1x28x28 in [0, 1]), downloaded once into the cache."""
        self._check_split(split)
        directory = self.cache_dir / "mnist"
        files = [
            RemoteFile(name, tuple(m + name for m in self.mnist_mirrors), MNIST_MD5[name])
            for name in IDX_FILES[split]
        ]
        fetch_all(files, directory, self.timeout)
        x, y = self._idx_pair(directory, split)
        return _finish("mnist", x, y, str(directory), tuple(str(i) for i in range(10)), split=split)

    def load_cifar10(
        self, split: str = "train"
    ) -> tuple[tuple[np.ndarray, np.ndarray], DatasetInfo]:
        """CIFAR-10 (50k train / 10k test, 3x32x32 in [0, 1]) from the official binary version."""
        self._check_split(split)
        archive = fetch(self.cifar10_file, self.cache_dir / "cifar10", self.timeout)
        members = CIFAR10_TRAIN_MEMBERS if split == "train" else CIFAR10_TEST_MEMBERS
        images, labels = read_cifar10_archive(archive, members)
        x = images.astype(np.float32) / 255.0
        return _finish("cifar10", x, labels, str(archive), CIFAR10_CLASSES, split=split)

    # -- the user's own data ------------------------------------------------------------------

    @staticmethod
    def from_arrays(
        features: Any, labels: Any, name: str = "custom"
    ) -> tuple[tuple[np.ndarray, np.ndarray], DatasetInfo]:
        """Use in-memory arrays; labels of any type are mapped to ``0..k-1`` in sorted order."""
        x = np.asarray(features)
        raw = np.asarray(labels)
        if x.ndim < 2:
            raise ConfigurationError(f"features must be 2-D or more (samples first), got {x.shape}")
        if raw.ndim != 1 or len(raw) != len(x):
            raise ConfigurationError(
                f"labels must be 1-D with one label per sample: {raw.shape} vs {len(x)} samples"
            )
        if len(x) == 0:
            raise ConfigurationError("the dataset is empty")
        try:
            x = x.astype(np.float32)
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"features must be numeric: {exc}") from None
        if not np.isfinite(x).all():
            raise ConfigurationError("features contain NaN or Inf")
        classes, y = np.unique(raw, return_inverse=True)
        return _finish(name, x, y, "arrays", tuple(str(c) for c in classes))

    def load_csv(
        self,
        path: str | Path,
        label_column: str | int = -1,
        delimiter: str = ",",
    ) -> tuple[tuple[np.ndarray, np.ndarray], DatasetInfo]:
        """Read a CSV of numeric features and one label column (by header name or index).

        A first row that is not all numbers is taken as the header.
        """
        file = Path(path)
        try:
            with file.open(newline="") as fh:
                rows = [row for row in csv.reader(fh, delimiter=delimiter) if row]
        except OSError as exc:
            raise DatasetError(f"cannot read {file}: {exc}") from exc
        if not rows:
            raise DatasetError(f"{file} is empty")
        header: list[str] | None = None
        if not all(_is_number(cell) for cell in rows[0] if cell.strip()):
            header, rows = rows[0], rows[1:]
        width = len(rows[0]) if rows else 0
        if width < 2:
            raise DatasetError(f"{file} needs at least one feature column and a label column")
        if isinstance(label_column, str):
            if header is None or label_column not in header:
                raise ConfigurationError(f"{file} has no column named {label_column!r}")
            index = header.index(label_column)
        else:
            index = label_column % width
        for number, row in enumerate(rows, start=2 if header else 1):
            if len(row) != width:
                raise DatasetError(f"{file} line {number}: {len(row)} fields, expected {width}")
        try:
            features = np.array(
                [[float(c) for j, c in enumerate(row) if j != index] for row in rows]
            )
        except ValueError as exc:
            raise DatasetError(f"{file}: a feature is not a number ({exc})") from None
        labels = [row[index].strip() for row in rows]
        if all(_is_number(v) for v in labels):
            return self.from_arrays(features, np.array([float(v) for v in labels]), file.stem)
        return self.from_arrays(features, np.array(labels), file.stem)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def train_test_split(
    data: tuple[np.ndarray, np.ndarray], test_fraction: float = 0.2, seed: int = 0
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Stratified split of ``(X, y)`` into train and test parts, reproducible from ``seed``."""
    if not 0 < test_fraction < 1:
        raise ConfigurationError(f"test_fraction must be in (0, 1), got {test_fraction}")
    from sklearn.model_selection import train_test_split as sk_split

    x, y = data
    x_tr, x_te, y_tr, y_te = sk_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)
    return (x_tr, y_tr), (x_te, y_te)
