"""Backends the fault tier can break without breaking anyone else's tests.

- `FaultProxy`: an HTTP reverse proxy in front of the shared moto server. The tier's AWS provider talks to
  moto through it; `proxy.failing()` makes it answer every request with HTTP 500 (an AWS InternalFailure),
  which is how a real AWS endpoint fails, while moto itself keeps serving the other helpers.
- `PrivateBao`: an OpenBao dev server of the tier's own on a free port, so sealing it (`seal()`, the real
  `sys/seal` API) touches no other test; its unseal key is read from its own log.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "host",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        port: int = s.getsockname()[1]
        return port


class FaultProxy:
    """Forwards HTTP to `upstream` (host, port); in failing mode answers 500 without forwarding."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.fail = threading.Event()
        self.forwarded = 0
        self.refused = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if proxy.fail.is_set():
                    proxy.refused += 1
                    payload = json.dumps(
                        {
                            "__type": "InternalFailure",
                            "message": "fault injected by the ssc fault tier",
                        }
                    ).encode()
                    self.send_response(500)
                    self.send_header("Content-Type", "application/x-amz-json-1.1")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                proxy.forwarded += 1
                conn = http.client.HTTPConnection(*proxy.upstream, timeout=60)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                    headers["Host"] = self.headers.get("Host", f"{proxy.upstream[0]}:{proxy.upstream[1]}")
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    self.send_response(resp.status, resp.reason)
                    for key, value in resp.getheaders():
                        if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                finally:
                    conn.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("0.0.0.0", 0), Handler)
        self.server.daemon_threads = True
        self.port: int = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, name="fault-proxy", daemon=True)

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @contextlib.contextmanager
    def failing(self) -> Iterator[None]:
        self.fail.set()
        try:
            yield
        finally:
            self.fail.clear()


class PrivateBao:
    """`bao server -dev` on a free port (in-memory storage, root token `root`), started and stopped here."""

    def __init__(self, bao: Path, workdir: Path) -> None:
        self.port = free_port()
        self.addr = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "openbao.log"
        self._bao = bao
        self._workdir = workdir
        self._proc: subprocess.Popen[bytes] | None = None
        self.unseal_key = ""

    def start(self) -> PrivateBao:
        with open(self.log_path, "wb") as log:
            self._proc = subprocess.Popen(
                [
                    str(self._bao),
                    "server",
                    "-dev",
                    "-dev-root-token-id=root",
                    f"-dev-listen-address=0.0.0.0:{self.port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "HOME": str(self._workdir)},
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while True:
            match = re.search(r"Unseal Key: (\S+)", self.log_path.read_text(errors="replace"))
            if match and self.health() == 200:
                self.unseal_key = match.group(1)
                return self
            if self._proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"private OpenBao did not start: {self.log_path.read_text()[-2000:]}")
            time.sleep(0.3)

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGTERM)
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait(10)

    def health(self) -> int:
        """HTTP status of sys/health: 200 active and unsealed, 503 sealed."""
        try:
            with urllib.request.urlopen(f"{self.addr}/v1/sys/health", timeout=5) as resp:
                status: int = resp.status
                return status
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return 0

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        req = urllib.request.Request(
            f"{self.addr}/v1/{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"X-Vault-Token": "root"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else {}

    def seal(self) -> None:
        self.call("PUT", "sys/seal")
        assert self.health() == 503, "OpenBao still unsealed after sys/seal"

    def unseal(self) -> None:
        self.call("PUT", "sys/unseal", {"key": self.unseal_key})
        deadline = time.monotonic() + 30
        while self.health() != 200:
            assert time.monotonic() < deadline, "OpenBao not active 30s after unseal"
            time.sleep(0.2)

    def put(self, path: str, data: dict[str, str]) -> None:
        self.call("POST", f"secret/data/{path}", {"data": data})
