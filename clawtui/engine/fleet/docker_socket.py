"""A few GET requests to a Docker Engine on a local unix socket, without the Docker SDK.

What the fleet's first snapshot needs before the engine (and with it the SDK, requests and
urllib3) is imported: HTTP/1.1 over `asyncio.open_unix_connection`, one request at a time per
connection (keep-alive), `Content-Length` or chunked bodies, JSON replies. Replies are untrusted:
the head and the body are size-capped, and anything malformed raises `DockerSocketError`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Final
from urllib.parse import quote

MAX_HEAD_BYTES: Final = 64 * 1024
MAX_BODY_BYTES: Final = 64 * 1024 * 1024
"""A reply larger than this is refused (`GET /containers/json` of thousands of containers is
a few MiB)."""


class DockerSocketError(Exception):
    """The Docker socket did not give a usable reply."""


class DockerSocket:
    """One keep-alive connection to the Docker Engine API on a unix socket."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def get_json(self, path: str, **params: str | int) -> Any:
        """`GET path?params` → the decoded JSON body; raises DockerSocketError on a status
        other than 200 or an unusable reply (OSError when the socket cannot be reached)."""
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_unix_connection(
                self.path, limit=MAX_HEAD_BYTES
            )
        assert self._reader is not None
        query = "&".join(f"{k}={quote(str(v), safe='')}" for k, v in params.items())
        target = quote(path, safe="/.-_") + (f"?{query}" if query else "")
        self._writer.write(
            f"GET {target} HTTP/1.1\r\nHost: docker\r\nAccept: application/json\r\n\r\n".encode()
        )
        await self._writer.drain()
        status, headers = await self._read_head(self._reader)
        body = await self._read_body(self._reader, headers)
        if headers.get("connection", "").lower() == "close":
            self.close()
        if status != 200:
            raise DockerSocketError(f"GET {path}: HTTP {status}: {body[:200]!r}")
        try:
            return json.loads(body)
        except ValueError as exc:
            raise DockerSocketError(f"GET {path}: the reply is not JSON ({exc})") from None

    @staticmethod
    async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            raise DockerSocketError("the Docker socket closed the connection") from None
        except asyncio.LimitOverrunError:
            raise DockerSocketError("the reply's head is too large") from None
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise DockerSocketError(f"not an HTTP reply: {lines[0][:80]!r}")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        return int(parts[1]), headers

    @staticmethod
    async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
        try:
            if headers.get("transfer-encoding", "").lower() == "chunked":
                chunks: list[bytes] = []
                total = 0
                while True:
                    size_line = await reader.readuntil(b"\r\n")
                    size = int(size_line.split(b";", 1)[0].strip(), 16)
                    if size == 0:
                        await reader.readuntil(b"\r\n")  # no trailers from dockerd
                        return b"".join(chunks)
                    total += size
                    if total > MAX_BODY_BYTES:
                        raise DockerSocketError("the reply is too large")
                    chunks.append(await reader.readexactly(size))
                    await reader.readexactly(2)
            length = headers.get("content-length")
            if length is None or not length.isdigit():
                raise DockerSocketError("the reply has no length")
            if int(length) > MAX_BODY_BYTES:
                raise DockerSocketError("the reply is too large")
            return await reader.readexactly(int(length))
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            raise DockerSocketError("the reply's body is cut short or malformed") from None

    def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
