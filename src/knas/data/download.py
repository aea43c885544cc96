"""md5-checked, atomic downloads with ``urllib`` (no torchvision).

A download streams into a temporary file beside the destination and is renamed onto it only once
its md5 matches, so an interrupted or corrupted transfer never leaves a file that a later run (or
Snakemake) would trust. An existing destination is verified instead of downloaded again.
"""
from __future__ import annotations

import hashlib
import http.client
import logging
import os
import urllib.error
import urllib.request
from pathlib import Path

from knas.utils import atomic_path

from .files import CHUNK, imagenet16_missing_message, md5sum
from .specs import md5_of, url_of

log = logging.getLogger(__name__)


class DownloadError(RuntimeError):
    """A file could not be downloaded or failed its md5 check; the message says where to put it by hand."""


def download(url: str, dest: str | os.PathLike, md5: str, *, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` (atomically) and check its md5; return ``dest``.

    If ``dest`` exists its md5 is checked instead: a match returns at once, a mismatch raises
    :class:`DownloadError` (the file is left alone, never silently replaced). Network failures
    (offline machine, refused connection, HTTP error, timeout) raise :class:`DownloadError` naming
    the URL and the exact path where the file can be put by hand.
    """
    dest = Path(dest)
    md5 = md5.lower()
    if dest.exists():
        got = md5sum(dest)
        if got != md5:
            raise DownloadError(
                f"{dest} exists but its md5 is {got}, expected {md5}: the file is corrupt or incomplete. "
                f"Delete it to download it again from {url}."
            )
        log.info("%s present, md5 ok", dest)
        return dest
    log.info("downloading %s -> %s", url, dest)
    try:
        with atomic_path(dest, digest=False) as tmp:
            h = hashlib.md5()
            with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as fh:
                for chunk in iter(lambda: resp.read(CHUNK), b""):
                    fh.write(chunk)
                    h.update(chunk)
            got = h.hexdigest()
            if got != md5:
                raise DownloadError(
                    f"downloaded {url} but its md5 is {got}, expected {md5}; nothing was written to {dest}. "
                    f"Retry, or download it by hand and put it at {dest}."
                )
    except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as err:
        reason = getattr(err, "reason", err)
        raise DownloadError(
            f"could not download {url} ({reason}). If this machine is offline, download the file "
            f"elsewhere and put it at {dest.resolve()} (md5 {md5})."
        ) from err
    return dest


def download_raw(name: str, relpath: str, root: str | os.PathLike, *, timeout: float = 60.0) -> Path:
    """Download one raw file of a dataset (see :func:`~knas.data.raw_files`) into ``root``.

    Files without a URL (ImageNet16: image-net.org needs a login) raise :class:`DownloadError`
    saying where to put them.
    """
    dest = Path(root) / relpath
    url = url_of(name, relpath)
    md5 = md5_of(name, relpath)
    if url is None:
        if dest.exists():
            got = md5sum(dest)
            if got != md5:
                raise DownloadError(f"{dest}: md5 is {got}, expected {md5} (corrupt or incomplete copy)")
            return dest
        raise DownloadError(imagenet16_missing_message(Path(root), [relpath]))
    return download(url, dest, md5, timeout=timeout)
