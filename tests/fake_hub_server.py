"""A fake Hugging Face Hub for tests: the few HTTP endpoints `datasets.load_dataset` (datasets 5,
huggingface_hub 1) calls on a dataset repository, served from files held in memory. Point HF_ENDPOINT
at `FakeHub.url` in the process that loads (huggingface_hub reads it once, at import).

- GET  /api/datasets/<owner>/<name>[/revision/<rev>]          the repository's info: its commit and files
- GET  /api/datasets/<owner>/<name>/tree/<rev>[/<folder>]      the files under a folder (?recursive=true)
- HEAD|GET /datasets/<owner>/<name>/resolve/<rev>/<file>       a file, with its commit and ETag headers

Anything else is answered 404 with the Hub's X-Error-Code header. The commit of a repository is the
sha1 of its files, so changing a file gives a new commit, as on the Hub. `requests` logs every request."""

from __future__ import annotations

import hashlib
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse


def parquet_bytes(rows: list[dict]) -> bytes:
    """A parquet file holding `rows` (the Hub's usual format)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buffer)
    return buffer.getvalue()


def jsonl_bytes(rows: list[dict]) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


class FakeHub:
    """Dataset repositories (`repos[repo_id][path] = bytes`) served on a free local port until `close`."""

    def __init__(self, repos: dict[str, dict[str, bytes]]):
        self.repos = repos
        self.requests: list[str] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_HEAD(self):
                hub.answer(self, head=True)

            def do_GET(self):
                hub.answer(self, head=False)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def commit(self, repo: str) -> str:
        digest = hashlib.sha1()
        for path, data in sorted(self.repos[repo].items()):
            digest.update(path.encode() + b"\0" + data)
        return digest.hexdigest()

    def answer(self, handler: BaseHTTPRequestHandler, head: bool) -> None:
        """One request: the repository and what of it is asked, else 404."""
        url = urlparse(handler.path)
        self.requests.append(f"{handler.command} {url.path}")
        parts = unquote(url.path).strip("/").split("/")
        api = parts[:2] == ["api", "datasets"]
        parts = parts[2:] if api else parts[1:] if parts[:1] == ["datasets"] else []
        repo = "/".join(parts[:2])
        if repo not in self.repos:
            return _send(handler, 404, {"error": "Repository not found"}, head, {"X-Error-Code": "RepoNotFound"})
        rest = parts[2:]
        if api and (not rest or rest[0] == "revision"):
            return _send(handler, 200, self.info(repo), head)
        if api and rest[0] == "tree":
            recursive = parse_qs(url.query).get("recursive") == ["true"]
            return _send(handler, 200, self.tree(repo, "/".join(rest[2:]), recursive), head)
        if not api and rest[:1] == ["resolve"] and "/".join(rest[2:]) in self.repos[repo]:
            data = self.repos[repo]["/".join(rest[2:])]
            etag = '"' + hashlib.sha1(data).hexdigest() + '"'
            return _send(handler, 200, data, head, {"X-Repo-Commit": self.commit(repo), "ETag": etag})
        missing = {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": self.commit(repo)}
        _send(handler, 404, {"error": "Entry not found"}, head, missing)

    def info(self, repo: str) -> dict:
        siblings = [{"rfilename": path} for path in sorted(self.repos[repo])]
        return {"id": repo, "sha": self.commit(repo), "private": False, "siblings": siblings, "tags": []}

    def tree(self, repo: str, folder: str, recursive: bool) -> list[dict]:
        """The entries under `folder`: its files (all below it when recursive) and sub-folders."""
        prefix = f"{folder.strip('/')}/" if folder.strip("/") else ""
        files, folders = [], set()
        for path, data in sorted(self.repos[repo].items()):
            if not path.startswith(prefix):
                continue
            steps = path[len(prefix) :].split("/")
            folders.update(prefix + "/".join(steps[: i + 1]) for i in range(len(steps) - 1 if recursive else 0))
            if len(steps) > 1 and not recursive:
                folders.add(prefix + steps[0])
                continue
            files.append({"type": "file", "path": path, "size": len(data), "oid": hashlib.sha1(data).hexdigest()})
        return [{"type": "directory", "path": f, "oid": "0" * 40} for f in sorted(folders)] + files


def _send(handler: BaseHTTPRequestHandler, status: int, body, head: bool, headers: dict | None = None) -> None:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    kind = "application/octet-stream" if isinstance(body, bytes) else "application/json"
    handler.send_response(status)
    for key, value in {"Content-Type": kind, "Content-Length": str(len(data)), **(headers or {})}.items():
        handler.send_header(key, value)
    handler.end_headers()
    if not head:
        handler.wfile.write(data)
