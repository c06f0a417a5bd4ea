"""``cirrbench data download cirrmri600 DIR``: the public cohort from OSF, checked and unpacked.

CirrMRI600+ lives on OSF (node ``cuk24``, DOI 10.17605/OSF.IO/CUK24, CC BY-NC 4.0). OSF's public
API lists every stored file with its size and SHA-256, so nothing here is hard-coded but the node:
each file is fetched over HTTPS with resume (a ``.part`` file continues with an HTTP Range request),
its size and SHA-256 are checked against the listing before it is renamed into place, and every
ZIP archive is unpacked into the folder (a member that would land outside it is refused). The
loader accepts the layout the archives unpack to, doubled top folders included.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cirrbench.benchmark.common.hashing import file_digest

__all__ = ["OSF_API", "CIRRMRI600_NODE", "DownloadError", "RemoteFile", "osf_files", "fetch", "unpack", "download_osf"]

OSF_API = "https://api.osf.io/v2"
CIRRMRI600_NODE = "cuk24"
_CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A download that cannot be trusted or completed; the message names the file and the fix."""


@dataclass(frozen=True)
class RemoteFile:
    path: str  # relative path on OSF ("Metadata/T1_age_gender_evaluation.csv")
    size: int
    sha256: str | None
    url: str


def _get_json(url: str) -> dict:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (https API, or a test server)
            return json.loads(response.read().decode("utf-8"))
    except (OSError, ValueError) as error:
        raise DownloadError(f"{url}: cannot read the file listing ({error}); check the connection and retry") from error


def osf_files(node: str = CIRRMRI600_NODE, api: str = OSF_API) -> list[RemoteFile]:
    """Every file of an OSF node's storage, folders walked, pages followed."""
    return sorted(_walk(f"{api.rstrip('/')}/nodes/{node}/files/osfstorage/", ""), key=lambda f: f.path)


def _walk(url: str | None, prefix: str) -> Iterator[RemoteFile]:
    while url:
        page = _get_json(url)
        for item in page.get("data", []):
            attributes = item.get("attributes", {})
            name = str(attributes.get("name", ""))
            if not name or "/" in name or name in (".", ".."):
                raise DownloadError(f"{url}: the listing holds an unsafe file name {name!r}")
            if attributes.get("kind") == "folder":
                related = item["relationships"]["files"]["links"]["related"]
                yield from _walk(related["href"] if isinstance(related, dict) else related, f"{prefix}{name}/")
            else:
                hashes = (attributes.get("extra") or {}).get("hashes") or {}
                yield RemoteFile(
                    f"{prefix}{name}", int(attributes.get("size") or 0), hashes.get("sha256"), item["links"]["download"]
                )
        url = (page.get("links") or {}).get("next")


def fetch(remote: RemoteFile, target: Path, progress: Callable[[int], None] | None = None) -> Path:
    """``remote`` into ``target``: resumed from ``target.part`` where one exists, then checked
    (size and SHA-256) and renamed into place. A file already there with the right hash is kept."""
    if (
        target.is_file()
        and target.stat().st_size == remote.size
        and (remote.sha256 is None or file_digest(target) == remote.sha256)
    ):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    have = partial.stat().st_size if partial.is_file() else 0
    if have > remote.size:
        partial.unlink()
        have = 0
    if have < remote.size:
        request = urllib.request.Request(remote.url, headers={"Range": f"bytes={have}-"} if have else {})
        try:
            with urllib.request.urlopen(request, timeout=60) as response, open(partial, "ab" if have else "wb") as out:  # noqa: S310
                if have and response.status != 206:  # the server ignored the range: start again
                    out.seek(0)
                    out.truncate()
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    out.write(chunk)
                    if progress is not None:
                        progress(len(chunk))
        except OSError as error:
            raise DownloadError(
                f"{remote.path}: download interrupted ({error}); rerun the command to resume"
            ) from error
    size = partial.stat().st_size
    if size != remote.size:
        raise DownloadError(
            f"{remote.path}: got {size} bytes, the listing says {remote.size}; rerun the command to resume"
        )
    if remote.sha256 is not None and (actual := file_digest(partial)) != remote.sha256:
        partial.unlink()
        raise DownloadError(
            f"{remote.path}: SHA-256 {actual} does not match the listing's {remote.sha256}; the partial file was deleted, rerun to fetch it again"
        )
    os.replace(partial, target)
    return target


def unpack(archive: Path, root: Path) -> list[Path]:
    """Every member of a ZIP archive into ``root``; a member whose path would leave ``root`` is refused."""
    root = root.resolve()
    with zipfile.ZipFile(archive) as zipped:
        for member in zipped.infolist():
            destination = (root / member.filename).resolve()
            if root != destination and root not in destination.parents:
                raise DownloadError(
                    f"{archive}: member {member.filename!r} would be written outside {root}; not unpacked"
                )
        zipped.extractall(root)
        return [root / name for name in zipped.namelist()]


def download_osf(
    root: str | Path, node: str = CIRRMRI600_NODE, api: str = OSF_API, progress: bool = True
) -> list[Path]:
    """Every file of the node into ``root/downloads`` (checked), ZIP archives unpacked into ``root``,
    other files (metadata CSVs) copied beside them; ``root/downloads/listing.json`` records the listing."""
    from tqdm.auto import tqdm

    root = Path(root)
    files = osf_files(node, api)
    if not files:
        raise DownloadError(f"{api}/nodes/{node}: the listing is empty; check the node id")
    downloads = root / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    (downloads / "listing.json").write_text(json.dumps([f.__dict__ for f in files], indent=1))
    bar = tqdm(total=sum(f.size for f in files), unit="B", unit_scale=True, desc="download", disable=not progress)
    written = []
    for remote in files:
        local = fetch(remote, downloads / remote.path, bar.update)
        if local.suffix.lower() == ".zip":
            written += unpack(local, root)
        else:
            copy = root / remote.path
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(local, copy)
            written.append(copy)
    bar.close()
    return written
