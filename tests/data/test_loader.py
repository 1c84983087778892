from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from quinkgl import DatasetLoader
from quinkgl.data.download import RemoteFile
from quinkgl.data.loader import FASHION_MNIST_DIR, MNIST_MD5
from quinkgl.errors import ConfigurationError, DatasetError, DatasetUnavailableError

from .formats import cifar10_archive, idx_bytes, md5, write_idx_set


@pytest.mark.parametrize(
    ("name", "samples", "features", "classes"),
    [
        ("iris", 150, 4, 3),
        ("digits", 1797, 64, 10),
        ("wine", 178, 13, 3),
        ("breast_cancer", 569, 30, 2),
    ],
)
def test_bundled_datasets(name, samples, features, classes):
    (x, y), info = DatasetLoader().load(name)
    assert x.shape == (samples, features) and x.dtype == np.float32
    assert y.dtype == np.int64 and set(np.unique(y)) == set(range(classes))
    assert (info.num_samples, info.num_features, info.num_classes) == (samples, features, classes)


def test_digits_scaled_to_unit_interval():
    (x, _), _ = DatasetLoader().load_digits()
    assert x.min() == 0.0 and x.max() == 1.0


def test_unknown_dataset_is_a_clear_error():
    with pytest.raises(ConfigurationError, match="choose from"):
        DatasetLoader().load("imagenet")


@pytest.mark.skipif(
    not (FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists(),
    reason="Debian package dataset-fashion-mnist not installed (the test command installs it)",
)
def test_real_fashion_mnist_from_debian_package():
    (x, y), info = DatasetLoader().load_fashion_mnist(split="test")
    assert x.shape == (10000, 1, 28, 28) and y.shape == (10000,)
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert np.bincount(y).tolist() == [1000] * 10
    assert info.class_names[9] == "Ankle boot"


def test_fashion_mnist_from_directory_and_missing_package(tmp_path):
    write_idx_set(tmp_path, {"train": 12, "test": 5})
    (x, _), info = DatasetLoader().load_fashion_mnist(path=tmp_path)
    assert x.shape == (12, 1, 28, 28) and info.notes["split"] == "train"
    with pytest.raises(DatasetUnavailableError, match="lacks"):
        DatasetLoader().load_fashion_mnist(path=tmp_path / "nowhere")


def test_corrupt_idx_is_a_dataset_error(tmp_path):
    write_idx_set(tmp_path, {"train": 3})
    raw = idx_bytes(np.zeros((3, 28, 28)))
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DatasetError):
        DatasetLoader().load_fashion_mnist(path=tmp_path)


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[tuple[str, Path, list[str]]]:
    """An HTTP server on loopback serving ``tmp_path / 'www'``; yields (base URL, root, log)."""
    root = tmp_path / "www"
    root.mkdir()
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            requests.append(self.path)

    handler = functools.partial(Handler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", root, requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_mnist_download_checksum_and_cache(tmp_path, file_server, monkeypatch):
    base, root, requests = file_server
    write_idx_set(root, {"train": 20, "test": 6})
    sums = {name: md5((root / name).read_bytes()) for name in MNIST_MD5}
    monkeypatch.setattr("quinkgl.data.loader.MNIST_MD5", sums)
    loader = DatasetLoader(cache_dir=tmp_path / "cache")
    loader.mnist_mirrors = ("http://127.0.0.1:9/dead/", base)  # first mirror refuses
    (x, _), info = loader.load_mnist(split="test")
    assert x.shape == (6, 1, 28, 28) and info.name == "mnist"
    fetched = len(requests)
    loader.load_mnist(split="test")
    assert len(requests) == fetched, "second load must come from the cache"


def test_download_with_wrong_checksum_is_refused_and_not_cached(tmp_path, file_server, monkeypatch):
    base, root, _ = file_server
    write_idx_set(root, {"test": 4})
    monkeypatch.setattr("quinkgl.data.loader.MNIST_MD5", dict.fromkeys(MNIST_MD5, "0" * 32))
    loader = DatasetLoader(cache_dir=tmp_path / "cache")
    loader.mnist_mirrors = (base,)
    with pytest.raises(DatasetUnavailableError, match="checksum mismatch"):
        loader.load_mnist(split="test")
    assert not list((tmp_path / "cache" / "mnist").iterdir())


def test_offline_download_is_a_clear_error(tmp_path):
    loader = DatasetLoader(cache_dir=tmp_path, timeout=2)
    loader.mnist_mirrors = ("http://127.0.0.1:9/",)
    with pytest.raises(DatasetUnavailableError, match="Without internet"):
        loader.load_mnist()


def test_cifar10_binary_download(tmp_path, file_server):
    base, root, _ = file_server
    archive = cifar10_archive(per_batch=4)
    (root / "cifar-10-binary.tar.gz").write_bytes(archive)
    loader = DatasetLoader(cache_dir=tmp_path / "cache")
    loader.cifar10_file = RemoteFile(
        "cifar-10-binary.tar.gz", (base + "cifar-10-binary.tar.gz",), md5(archive)
    )
    (x, y), info = loader.load_cifar10()
    assert x.shape == (20, 3, 32, 32) and y.shape == (20,) and info.class_names[0] == "airplane"
    (xt, _), _ = loader.load_cifar10(split="test")
    assert xt.shape == (4, 3, 32, 32)


def test_arrays_and_csv(tmp_path):
    (x, y), info = DatasetLoader.from_arrays([[1, 2], [3, 4], [5, 6]], ["b", "a", "b"])
    assert y.tolist() == [1, 0, 1] and info.class_names == ("a", "b")
    csv_file = tmp_path / "plants.csv"
    csv_file.write_text("width,height,kind\n1.0,2.0,rose\n3.5,4.0,tulip\n0.5,1.0,rose\n")
    (x, y), info = DatasetLoader().load_csv(csv_file, label_column="kind")
    assert x.tolist() == [[1.0, 2.0], [3.5, 4.0], [0.5, 1.0]]
    assert y.tolist() == [0, 1, 0] and info.name == "plants"
    csv_file.write_text("1,2,0\n3,x,1\n")
    with pytest.raises(DatasetError, match="not a number"):
        DatasetLoader().load_csv(csv_file)
    with pytest.raises(ConfigurationError, match="NaN"):
        DatasetLoader.from_arrays([[np.nan, 1.0]], [0])
