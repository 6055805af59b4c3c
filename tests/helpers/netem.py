"""A TCP proxy between a client and a real server that can cut the network, in two ways.

``cut()``: every connection is reset and new ones are refused (a cable pulled, a switch
rebooted, a firewall that answers with RST). ``black_hole()``: connections stay open and
new ones are accepted, but nothing is forwarded in either direction (a dead route or a VPN
that silently drops packets: no error ever reaches the client, which must notice by its own
timeouts). ``latency_s`` delays every chunk each way (a slow link, or a server too busy
to answer at once). ``heal()`` restores forwarding; connections cut meanwhile stay dead, as in life.
"""

from __future__ import annotations

import asyncio
import socket
import time

from tests.helpers.servers import free_port

CHUNK = 65536


class NetemProxy:
    def __init__(self, target_port: int, *, host: str = "127.0.0.1"):
        self.host, self.target_port = host, target_port
        self.port = free_port()
        self.mode = "pass"  # pass | cut | black_hole
        self.latency_s = 0.0  # added to every chunk, each way: a slow link or a busy server
        self.accepted = 0
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task] = set()

    def url(self, path: str = "/test") -> str:
        return f"opc.tcp://{self.host}:{self.port}{path}"

    async def start(self) -> NetemProxy:
        await self._listen()
        return self

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.port, reuse_address=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.target_port)
        except OSError:  # the server itself is down: the client sees its connection reset
            _reset(writer)
            return
        self._writers |= {writer, up_writer}
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.ensure_future(self._pump(src, dst))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        # Delayed chunks wait in a queue, so latency does not add up when several are in flight.
        queue: asyncio.Queue = asyncio.Queue()
        sender = asyncio.ensure_future(self._send_later(queue, dst))
        try:
            while data := await src.read(CHUNK):
                if self.mode == "black_hole":
                    continue  # swallowed: the sender's socket stays healthy, nothing arrives
                queue.put_nowait((time.monotonic() + self.latency_s, data))
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            queue.put_nowait((0.0, b""))
            await asyncio.gather(sender, return_exceptions=True)
            if self.mode != "black_hole":
                dst.close()
            self._writers.discard(dst)

    async def _send_later(self, queue: asyncio.Queue, dst: asyncio.StreamWriter) -> None:
        while True:
            due, data = await queue.get()
            if not data:
                return
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            if self.mode == "black_hole":
                continue
            dst.write(data)
            await dst.drain()

    async def cut(self) -> None:
        """Reset every open connection and refuse new ones until ``heal``."""
        self.mode = "cut"
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            _reset(writer)
        self._writers.clear()

    def black_hole(self) -> None:
        """Keep every socket open but forward nothing; accept new connections the same way."""
        self.mode = "black_hole"

    async def heal(self) -> None:
        """Forward again; connections that were black-holed are dropped (their streams are out of step)."""
        if self.mode == "black_hole":
            for writer in list(self._writers):
                _reset(writer)
            self._writers.clear()
        self.mode = "pass"
        if self._server is None:
            await self._listen()

    async def stop(self) -> None:
        await self.cut()
        for task in list(self._tasks):
            task.cancel()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST (SO_LINGER 0), not FIN: what a peer sees when a network path dies."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        except OSError:
            pass
    writer.transport.abort()
