"""Fetching dataset files into a local cache, verified by checksum.

Downloads go to a temporary file beside the target and are renamed into place only after the
checksum matches, so an interrupted or corrupted download never poisons the cache.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from quinkgl.errors import DatasetError, DatasetUnavailableError

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset: its name, the places it can be fetched from, and its MD5."""

    filename: str
    urls: tuple[str, ...]
    md5: str


def default_cache_dir() -> Path:
    """``$QUINKGL_DATA`` if set, else ``~/.cache/quinkgl/datasets``."""
    env = os.environ.get("QUINKGL_DATA")
    return Path(env) if env else Path.home() / ".cache" / "quinkgl" / "datasets"


def md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(remote: RemoteFile, directory: Path, timeout: float = 30.0) -> Path:
    """Return the path of ``remote`` in ``directory``, downloading and verifying it if needed."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / remote.filename
    if target.exists():
        if md5_of(target) == remote.md5:
            return target
        logger.warning("cached %s fails its checksum; downloading it again", target)
        target.unlink()
    errors: list[str] = []
    for url in remote.urls:
        try:
            _download(url, target, remote.md5, timeout)
            return target
        except (urllib.error.URLError, OSError, DatasetError) as exc:
            reason = getattr(exc, "reason", exc)
            errors.append(f"{url}: {reason}")
            logger.info("download of %s failed: %s", url, reason)
    raise DatasetUnavailableError(
        f"could not download {remote.filename} ({'; '.join(errors)}). Without internet, copy the "
        f"file (MD5 {remote.md5}) into {directory} on a connected machine, or point "
        "QUINKGL_DATA at a directory that holds it."
    )


def _download(url: str, target: Path, md5: str, timeout: float) -> None:
    digest = hashlib.md5(usedforsecurity=False)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(
                total=total, unit="B", unit_scale=True, desc=target.name, disable=None, leave=False
            ) as bar:
                for block in iter(lambda: response.read(_CHUNK), b""):
                    digest.update(block)
                    out.write(block)
                    bar.update(len(block))
        if digest.hexdigest() != md5:
            raise DatasetError(f"checksum mismatch (got MD5 {digest.hexdigest()}, want {md5})")
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)


def fetch_all(files: Sequence[RemoteFile], directory: Path, timeout: float = 30.0) -> list[Path]:
    return [fetch(remote, directory, timeout) for remote in files]
