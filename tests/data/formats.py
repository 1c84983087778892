"""Writers for small files in the official dataset formats, for tests."""

from __future__ import annotations

import gzip
import hashlib
import io
import struct
import tarfile
from pathlib import Path

import numpy as np


def idx_bytes(array: np.ndarray) -> bytes:
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return gzip.compress(header + array.tobytes())


def write_idx_set(directory: Path, split_sizes: dict[str, int], seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    prefixes = {"train": "train", "test": "t10k"}
    directory.mkdir(parents=True, exist_ok=True)
    for split, n in split_sizes.items():
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        (directory / f"{prefixes[split]}-images-idx3-ubyte.gz").write_bytes(idx_bytes(images))
        (directory / f"{prefixes[split]}-labels-idx1-ubyte.gz").write_bytes(idx_bytes(labels))


def cifar10_archive(per_batch: int = 4, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in names:
            labels = rng.integers(0, 10, size=(per_batch, 1), dtype=np.uint8)
            pixels = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
            data = np.hstack([labels, pixels]).tobytes()
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()
