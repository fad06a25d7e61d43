"""Remote DATA against real servers on the loopback address (tests/fixtures/remote.py): an S3
folder prefix, WebDataset shards, Hugging Face Parquet and a manifest of URLs, transient
failures retried, exhausted retries one line, embedding remote bytes."""

from __future__ import annotations

import io
import json
import tarfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from PIL import Image

from curate.cli import main
from curate.embed.runner import run_embed
from curate.errors import DataError, UsageError
from curate.index import remote
from curate.index.images import member_range, read_bytes
from curate.index.stage import run_index
from curate.workspace import Workspace
from tests.fixtures.remote import S3_SECRET

COLOURS = {"red": (220, 30, 30), "blue": (30, 30, 220)}


def png(colour, size=(12, 10)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


def shard(samples: list[tuple[str, bytes, str]]) -> bytes:
    """A WebDataset tar: ``key.png`` + ``key.cls`` per sample, and a caption-only key."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        members = [(f"{key}.png", data) for key, data, _ in samples]
        members += [(f"{key}.cls", label.encode()) for key, _, label in samples]
        members.append(("orphan.txt", b"a caption without an image"))
        for name, data in sorted(members):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def photos_prefix(s3) -> dict[str, bytes]:
    """s3://bucket/photos/<class>/<i>.png, plus a caption, an SVG and a hidden file."""
    files = {}
    for label, colour in COLOURS.items():
        for i in range(3):
            files[f"{label}/{i}.png"] = png(colour, (10 + i, 10))
    for rel, data in files.items():
        s3.put(f"photos/{rel}", data)
    s3.put("photos/red/notes.txt", b"not an image")
    s3.put("photos/blue/logo.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>")
    s3.put("photos/.DS_Store", b"\0\0")
    return files


def test_folder_prefix_is_indexed_reindexed_and_embedded(s3, tmp_path, tiny_clip_dir):
    files = photos_prefix(s3)
    ws = Workspace(tmp_path / "ws")
    summary = run_index(s3.url("photos"), ws, workers=0)
    assert summary["format"] == "folder" and summary["num_readable"] == 6 and summary["num_classes"] == 2
    samples = ws.read_table("samples").to_pylist()
    assert {r["sample_id"]: r["path"] for r in samples} == {rel: s3.url(f"photos/{rel}") for rel in files}
    assert {r["sample_id"]: r["label"] for r in samples} == {rel: rel.split("/")[0] for rel in files}
    assert all(r["file_stat"]["size"] == len(files[r["sample_id"]]) for r in samples)
    assert {(g["extension"], g["reason"], g["count"]) for g in summary["skipped_files"]} == {
        (".txt", "not an image", 1),
        (".svg", "unsupported image format", 1),
        ("(none)", "hidden", 1),
    }

    again = run_index(s3.url("photos"), ws, workers=0)  # unchanged objects: nothing fetched again
    assert again["up_to_date"] and again["decoded"] == 0 and again["reused"] == 6
    s3.put("photos/red/9.png", png(COLOURS["red"], (20, 20)))
    grown = run_index(s3.url("photos/"), ws, workers=0)
    assert (grown["added"], grown["decoded"], grown["reused"]) == (1, 1, 6)
    assert grown["num_readable"] == 7, grown["unreadable"]

    embedded = run_embed(ws, model=f"local-dir:{tiny_clip_dir}", pretrained=None, device="cpu", workers=0)
    assert embedded["num_embedded"] == 7 and embedded["num_failed"] == 0, {
        k: v for k, v in embedded.items() if "num" in k or "fail" in k or "samples" in k
    }


def test_webdataset_shards_stream_and_read_by_range(s3, tmp_path):
    expected = {}
    for n in range(2):
        samples = [(f"{n}{i:03d}", png(colour, (8 + i, 9)), label) for i, (label, colour) in enumerate(COLOURS.items())]
        s3.put(f"shards/train/{n:05d}.tar", shard(samples))
        expected.update({f"train/{n:05d}.tar/{key}": (data, label) for key, data, label in samples})
    s3.put("shards/_stats.json", b"{}")
    ws = Workspace(tmp_path / "ws")
    summary = run_index(s3.url("shards"), ws, workers=0)
    assert summary["format"] == "webdataset" and summary["num_readable"] == 4
    assert summary["splits"] == {"train": 4}
    skipped = {(g["extension"], g["reason"]): g["count"] for g in summary["skipped_files"]}
    assert skipped == {(".txt", "not an image"): 2, (".json", "not a .tar shard"): 1}
    for row in ws.read_table("samples").to_pylist():
        data, label = expected[row["sample_id"]]
        assert row["label"] == label and member_range(row["member"])[2] == len(data)
        assert read_bytes(row["path"], row["member"], "webdataset") == data
    # one streamed pass per shard to list it, then one ranged GET per image: never a shard per image
    assert s3.gets("shards/train/00000.tar") == 1 + 2 + 2


def hf_parquet(rows: list[tuple[bytes, int]]) -> bytes:
    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    table = pa.table(
        {
            "image": pa.array([{"bytes": b, "path": None} for b, _ in rows], type=image),
            "label": pa.array([label for _, label in rows], type=pa.int64()),
        }
    )
    features = {"image": {"_type": "Image"}, "label": {"_type": "ClassLabel", "names": ["red", "blue"]}}
    table = table.replace_schema_metadata({"huggingface": json.dumps({"info": {"features": features}})})
    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=2)
    return buf.getvalue()


def test_hf_parquet_streams_row_groups(s3, tmp_path, monkeypatch):
    monkeypatch.setattr(remote, "REMOTE_BACKOFF_SECONDS", 0.01)
    rows = [(png(COLOURS["red" if i % 2 == 0 else "blue"], (8 + i, 8)), i % 2) for i in range(5)]
    url = s3.put("hf/data/train-00000-of-00001.parquet", hf_parquet(rows))
    s3.fail("hf/data/train-00000-of-00001.parquet", 2)  # the footer's first reads: retried
    ws = Workspace(tmp_path / "ws")
    summary = run_index(s3.url("hf"), ws, workers=0)
    assert summary["format"] == "parquet" and summary["num_readable"] == 5
    assert summary["splits"] == {"train": 5} and summary["num_classes"] == 2
    table = ws.read_table("samples").to_pylist()
    assert [r["label"] for r in table] == ["red", "blue", "red", "blue", "red"]
    assert read_bytes(url, "row:3", "parquet") == rows[3][0]
    assert s3.server.faults.failing["/" + url.removeprefix("s3://")] == 0  # both 503s were answered


def test_manifest_of_urls_reads_s3_and_https(s3, http_server, tmp_path):
    red = s3.put("m/red.png", png(COLOURS["red"]))
    http_server.files["img/blue.png"] = png(COLOURS["blue"])
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"path,label\n{red},red\n{http_server.url('img/blue.png')},blue\n{s3.url('m/gone.png')},red\n")
    summary = run_index(manifest, Workspace(tmp_path / "ws"), workers=0)
    assert summary["num_samples"] == 3 and summary["num_readable"] == 2
    assert [(u["sample_id"], u["reason"]) for u in summary["unreadable"]] == [(s3.url("m/gone.png"), "file not found")]

    # the manifest itself at a URL, with a path relative to it
    http_server.files["lists/m.jsonl"] = b'{"path": "../img/blue.png", "label": "blue"}\n'
    remote_manifest = run_index(http_server.url("lists/m.jsonl"), Workspace(tmp_path / "ws2"), workers=0)
    assert remote_manifest["format"] == "manifest" and remote_manifest["num_readable"] == 1


def test_reindexing_a_manifest_of_urls_downloads_only_what_changed(s3, http_server, tmp_path):
    red = s3.put("m/red.png", png(COLOURS["red"]))
    http_server.files["img/blue.png"] = png(COLOURS["blue"])
    blue = http_server.url("img/blue.png")
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"path,label\n{red},red\n{blue},blue\n")
    ws = Workspace(tmp_path / "ws")

    def downloads() -> tuple[int, int]:
        return s3.gets("m/red.png"), http_server.faults.requests[("GET", "/img/blue.png")]

    first = run_index(manifest, ws, workers=0)
    assert first["decoded"] == 2 and all(r["file_stat"] for r in ws.read_table("samples").to_pylist())
    fetched = downloads()

    again = run_index(manifest, ws, workers=0)  # nothing replaced: HEADs only, no download
    assert (again["up_to_date"], again["reused"], again["decoded"]) == (True, 2, 0)
    assert downloads() == fetched

    http_server.files["img/blue.png"] = png(COLOURS["blue"], (14, 10))  # replaced: a new ETag
    changed = run_index(manifest, ws, workers=0)
    assert (changed["reused"], changed["decoded"], changed["changed"]) == (1, 1, 1)
    assert downloads() == (fetched[0], fetched[1] + 1)
    assert {r["sample_id"]: r["width"] for r in ws.read_table("samples").to_pylist()}[blue] == 14


def test_transient_failures_are_retried(s3, http_server, tmp_path, monkeypatch):
    monkeypatch.setattr(remote, "REMOTE_BACKOFF_SECONDS", 0.01)
    photos_prefix(s3)
    s3.fail("photos/red/1.png", 2)
    summary = run_index(s3.url("photos"), Workspace(tmp_path / "ws"), workers=0)
    assert summary["num_readable"] == 6
    assert s3.gets("photos/red/1.png") == 3  # two 503s, then the answer

    http_server.files["s/00000.tar"] = shard([("k0", png(COLOURS["red"]), "red")])
    http_server.faults.failing["/s/00000.tar"] = 1
    over_http = run_index(http_server.url("s/00000.tar"), Workspace(tmp_path / "ws2"), workers=0)
    assert over_http["format"] == "webdataset" and over_http["num_readable"] == 1


def test_exhausted_retries_are_one_line_and_write_nothing(s3, tmp_path, monkeypatch):
    monkeypatch.setattr(remote, "REMOTE_BACKOFF_SECONDS", 0.01)
    monkeypatch.setenv("CURATE_REMOTE_ATTEMPTS", "2")
    photos_prefix(s3)
    s3.fail("photos/blue/2.png", 5)
    ws = tmp_path / "ws"
    result = CliRunner().invoke(main, ["index", s3.url("photos"), "-o", str(ws), "--workers", "0", "-q"])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"Error: cannot read {s3.url('photos/blue/2.png')}: ")
    assert "gave up after 2 attempts" in result.stderr
    assert S3_SECRET not in result.output and "curate-test-key-id" not in result.output
    assert not (ws / "samples.parquet").exists()
    assert s3.gets("photos/blue/2.png") == 2


def test_exhausted_retries_at_embed_time_are_one_line(s3, tmp_path, tiny_clip_dir, monkeypatch):
    monkeypatch.setattr(remote, "REMOTE_BACKOFF_SECONDS", 0.01)
    photos_prefix(s3)
    ws = Workspace(tmp_path / "ws")
    run_index(s3.url("photos"), ws, workers=0)
    monkeypatch.setenv("CURATE_REMOTE_ATTEMPTS", "1")
    s3.fail("photos/red/0.png", 5)
    with pytest.raises(DataError, match=r"^cannot read s3://.*/photos/red/0\.png: .*gave up after 1 attempts"):
        run_embed(ws, model=f"local-dir:{tiny_clip_dir}", pretrained=None, device="cpu", workers=1)


def test_missing_prefix_and_remote_workspace_are_usage_errors(s3, tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        run_index(s3.url("nothing-here"), Workspace(tmp_path / "ws"))
    result = CliRunner().invoke(main, ["index", str(tmp_path), "-o", s3.url("ws")])
    assert result.exit_code == 2 and "the workspace is a local folder" in result.stderr


def test_redact_hides_signatures_and_passwords():
    assert (
        remote.redact("cannot read https://h/x.jpg?X-Amz-Signature=abc: 403") == "cannot read https://h/x.jpg?...: 403"
    )
    assert remote.redact("ftp://user:pw@host/x") == "ftp://host/x"


def test_transient_or_not():
    assert remote.is_transient(ConnectionResetError())
    assert not remote.is_transient(FileNotFoundError("gone"))
    assert not remote.is_transient(PermissionError("denied"))
    assert not remote.is_transient(OSError("Parquet magic bytes not found in footer"))

    class ServerDisconnectedError(type("ClientConnectionError", (Exception,), {})):
        pass

    assert remote.is_transient(ServerDisconnectedError())

    class Answer(Exception):
        def __init__(self, status):
            self.status = status

    assert remote.is_transient(Answer(503)) and remote.is_transient(Answer(429))
    assert not remote.is_transient(Answer(403))


def test_listing_a_shard_streams_with_bounded_memory(http_server, monkeypatch):
    """Over HTTP rather than S3: moto keeps every object in this process and copies it per
    request, which tracemalloc would count; the loopback HTTP server copies only the range."""
    import tracemalloc

    import numpy as np

    from curate.index.webdataset import list_shard

    rng = np.random.default_rng(0)
    samples = []
    for i in range(24):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (300, 300, 3), dtype=np.uint8)).save(buf, "PNG")  # ~270 KB
        samples.append((f"{i:04d}", buf.getvalue(), "noise"))
    http_server.files["big/00000.tar"] = body = shard(samples)
    url = http_server.url("big/00000.tar")
    monkeypatch.setattr(remote, "REMOTE_BLOCK_BYTES", 512 * 1024)
    list_shard(url, "00000.tar", remote=True)  # the first call sets up the client
    tracemalloc.start()
    try:
        candidates, _ = list_shard(url, "00000.tar", remote=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(candidates) == 24 and len(body) > 6_000_000
    assert peak < 3_000_000, f"listing a {len(body):,}-byte shard peaked at {peak:,} bytes"


def test_a_missing_filesystem_names_the_extra(tmp_path, monkeypatch):
    import fsspec

    def not_installed(protocol, **kwargs):
        raise ImportError("Install s3fs to access S3")

    monkeypatch.setattr(fsspec, "filesystem", not_installed)
    monkeypatch.setattr(remote, "_filesystem", remote._filesystem.__wrapped__)  # no instance cached
    result = CliRunner().invoke(main, ["index", "s3://bucket/photos", "-o", str(tmp_path / "ws")])
    assert result.exit_code == 2
    assert result.stderr == "Error: reading s3:// URLs needs its fsspec filesystem: pip install 'curate[s3]'\n"
