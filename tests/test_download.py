"""`cirrbench data download cirrmri600`: the OSF listing (folders, pages, sizes, SHA-256) is read,
each file fetched with resume, checked and unpacked into the layout the loader reads; tested against
a local HTTP server on 127.0.0.1 serving a phantom in the published archive layout."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
import zipfile

import pytest

from cirrbench.benchmark.data.download import DownloadError, unpack
from cirrbench.benchmark.data.sources.cirrmri import load_cirrmri
from cirrbench.cli import main


class _Server:
    """OSF's API layout: a root listing over two pages, a folder, download links with Range."""

    def __init__(self, files: dict[str, bytes], wrong_hash: str | None = None) -> None:
        self.files, self.wrong_hash, self.ranges = files, wrong_hash, []
        handler = self._handler()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.api = f"http://127.0.0.1:{self.httpd.server_address[1]}/v2"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def _entry(self, path: str) -> dict:
        data = self.files[path]
        digest = "0" * 64 if path == self.wrong_hash else hashlib.sha256(data).hexdigest()
        return {
            "attributes": {
                "name": path.split("/")[-1],
                "kind": "file",
                "size": len(data),
                "extra": {"hashes": {"sha256": digest}},
            },
            "links": {"download": f"{self.api[:-3]}/download/{path}"},
        }

    def listing(self, url_path: str) -> dict:
        base = f"{self.api}/nodes/cuk24/files/osfstorage/"
        top = sorted(p for p in self.files if "/" not in p)
        if url_path.endswith("/metadata/"):
            return {
                "data": [self._entry(p) for p in sorted(self.files) if p.startswith("Metadata/")],
                "links": {"next": None},
            }
        folder = {
            "attributes": {"name": "Metadata", "kind": "folder"},
            "relationships": {"files": {"links": {"related": {"href": f"{base}metadata/"}}}},
        }
        if url_path.endswith("page2"):
            return {"data": [self._entry(p) for p in top[1:]], "links": {"next": None}}
        return {"data": [folder, self._entry(top[0])], "links": {"next": f"{base}?page2"}}

    def _handler(self):
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                if self.path.startswith("/v2/"):
                    body, status = json.dumps(server.listing(self.path)).encode(), 200
                else:
                    data = server.files[self.path.removeprefix("/download/")]
                    start = 0
                    if "Range" in self.headers:
                        server.ranges.append(self.headers["Range"])
                        start = int(self.headers["Range"].removeprefix("bytes=").split("-")[0])
                    body, status = data[start:], 206 if start else 200
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def close(self) -> None:
        self.httpd.shutdown()


@pytest.fixture(scope="module")
def published(tiny_phantom, tmp_path_factory) -> dict[str, bytes]:
    """The phantom as OSF holds the cohort: one ZIP per image folder, the metadata as files."""
    folder = tmp_path_factory.mktemp("published")
    files = {}
    for top in sorted(p for p in tiny_phantom.iterdir() if p.is_dir()):
        if top.name == "Metadata":
            files.update({f"Metadata/{csv.name}": csv.read_bytes() for csv in sorted(top.iterdir()) if csv.is_file()})
            continue
        archive = folder / f"{top.name}.zip"
        with zipfile.ZipFile(archive, "w") as zipped:
            for path in sorted(top.rglob("*")):
                zipped.write(path, path.relative_to(tiny_phantom).as_posix())
        files[archive.name] = archive.read_bytes()
    return files


def test_the_cohort_arrives_checked_unpacked_and_loadable_and_a_cut_download_resumes(
    published, tiny_phantom, tmp_path, capsys
):
    server = _Server(published)
    try:
        out = tmp_path / "CirrMRI600"
        assert main(["data", "download", "cirrmri600", str(out), "--api", server.api, "-q"]) == 0
        assert "next: cirrbench data validate" in capsys.readouterr().out
        assert len(load_cirrmri(out).records) == len(load_cirrmri(tiny_phantom).records)
        listing = json.loads((out / "downloads" / "listing.json").read_text())
        assert {entry["path"] for entry in listing} == set(published)  # both pages and the folder were read

        name = sorted(p for p in published if p.endswith(".zip"))[0]
        target = out / "downloads" / name
        target.unlink()
        (out / "downloads" / f"{name}.part").write_bytes(published[name][: len(published[name]) // 2])
        assert main(["data", "download", "cirrmri600", str(out), "--api", server.api, "-q"]) == 0
        assert server.ranges == [f"bytes={len(published[name]) // 2}-"]  # only the rest was asked for
        assert target.read_bytes() == published[name]
    finally:
        server.close()


def test_a_file_whose_hash_does_not_match_is_refused_and_deleted(published, tmp_path, capsys):
    name = sorted(p for p in published if p.endswith(".zip"))[0]
    server = _Server(published, wrong_hash=name)
    try:
        out = tmp_path / "CirrMRI600"
        assert main(["data", "download", "cirrmri600", str(out), "--api", server.api, "-q"]) == 2
        err = capsys.readouterr().err
        assert f"{name}: SHA-256" in err and "does not match" in err and len(err.strip().splitlines()) == 1
        assert not (out / "downloads" / f"{name}.part").exists() and not (out / "downloads" / name).exists()
    finally:
        server.close()


def test_an_archive_member_that_would_leave_the_folder_is_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("../outside.txt", "no")
    with pytest.raises(DownloadError, match="outside"):
        unpack(archive, tmp_path / "root")
    assert not (tmp_path / "outside.txt").exists()
