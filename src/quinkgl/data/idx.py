"""Readers for the binary formats of the image datasets: IDX (MNIST, Fashion-MNIST) and the
CIFAR-10 binary version.  Both are plain headers plus raw bytes; nothing is unpickled."""

from __future__ import annotations

import gzip
import struct
import tarfile
from pathlib import Path
from typing import Any

import numpy as np

from quinkgl.errors import DatasetError

_IDX_DTYPES: dict[int, Any] = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}

CIFAR10_RECORD = 1 + 3 * 32 * 32
CIFAR10_TRAIN_MEMBERS = tuple(f"cifar-10-batches-bin/data_batch_{i}.bin" for i in range(1, 6))
CIFAR10_TEST_MEMBERS = ("cifar-10-batches-bin/test_batch.bin",)


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file, gzipped or not, checking that its header matches its length."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DatasetError(f"{path} is not an IDX file (bad magic number)")
    dtype_code, ndim = raw[2], raw[3]
    if dtype_code not in _IDX_DTYPES or ndim == 0:
        raise DatasetError(f"{path}: unsupported IDX type 0x{dtype_code:02x} or rank {ndim}")
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise DatasetError(f"{path} is truncated (header)")
    shape = struct.unpack(f">{ndim}I", raw[4:header_len])
    dtype = np.dtype(_IDX_DTYPES[dtype_code])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header_len != expected:
        raise DatasetError(
            f"{path}: header promises {expected} bytes of data, file has {len(raw) - header_len}"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header_len).reshape(shape)


def read_cifar10_archive(path: Path, members: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Read the given batch files out of ``cifar-10-binary.tar.gz`` without extracting anything."""
    images: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    try:
        with tarfile.open(path, "r:gz") as tar:
            for name in members:
                try:
                    member = tar.getmember(name)
                except KeyError:
                    raise DatasetError(
                        f"{path} lacks {name}: not the CIFAR-10 binary version"
                    ) from None
                fh = tar.extractfile(member) if member.isfile() else None
                if fh is None:
                    raise DatasetError(f"{path}: {name} is not a regular file")
                raw = np.frombuffer(fh.read(), dtype=np.uint8)
                if raw.size == 0 or raw.size % CIFAR10_RECORD:
                    raise DatasetError(f"{path}: {name} is not a whole number of CIFAR-10 records")
                records = raw.reshape(-1, CIFAR10_RECORD)
                labels.append(records[:, 0].astype(np.int64))
                images.append(records[:, 1:].reshape(-1, 3, 32, 32))
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DatasetError(f"cannot read CIFAR-10 archive {path}: {exc}") from exc
    y = np.concatenate(labels)
    if y.max() > 9:
        raise DatasetError(f"{path}: label {int(y.max())} outside CIFAR-10's 0-9")
    return np.concatenate(images), y
