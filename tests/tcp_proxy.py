"""A TCP proxy that a test can cut and restore: a database outage without stopping the shared
server that other tests (and other people) use."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TcpProxy:
    """Forwards 127.0.0.1:`port` to `target_host`:`target_port` from a thread of its own.

    `cut()` refuses new connections and resets the open ones, as a server or network that
    went away would; `black_hole()` resets the open ones and accepts new ones that never get
    an answer, as a server behind a firewall that drops packets would; `restore()` serves
    again on the same port.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._swallow = False

    def start(self) -> None:
        self._thread.start()
        self.restore()

    def close(self) -> None:
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def cut(self) -> None:
        """Stop listening and reset every open connection."""
        asyncio.run_coroutine_threadsafe(self._cut(), self._loop).result(timeout=5)

    def restore(self) -> None:
        """Listen again, and forward what new connections send."""
        self._swallow = False
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(timeout=5)

    @contextmanager
    def black_hole(self) -> Iterator[None]:
        """For the block: open connections reset, new ones accepted and never answered."""
        self.cut()
        self._swallow = True
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(timeout=5)
        try:
            yield
        finally:
            self.cut()
            self.restore()

    @contextmanager
    def outage(self) -> Iterator[None]:
        """Cut for the block."""
        self.cut()
        try:
            yield
        finally:
            self.restore()

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(
                self._handle, "127.0.0.1", self.port, reuse_address=True
            )

    async def _cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._swallow:
            self._writers.add(writer)
            with contextlib.suppress(OSError):
                while await reader.read(65536):
                    pass  # dropped: the client waits for an answer that never comes
            self._writers.discard(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )
        self._writers -= {writer, up_writer}

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.transport.abort()
