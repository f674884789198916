"""The HL7 v2 ADT feed: an MLLP listener (`python -m portal_app adt-listen`) on the `hl7`
library's asyncio MLLP streams (`hl7.mllp`).

Each connection is read one frame at a time: a frame is applied (`services/adt.py`, on a worker
thread, so the event loop never waits on the database) and answered with its ACK before the next
is read. All database work goes through one worker thread: SQLite has one writer anyway, and
messages from several connections are applied in the order they arrive.

What never takes the listener down, and what each gets:
- a frame without its end bytes (<FS><CR>): an AE when the sender still reads (it closed its
  side, it went silent, or the next frame's <VT> came first); nothing to answer, a clean close;
- bytes before a frame's <VT> are skipped; HL7 with other separators, no MSH, not HL7 at all,
  a block with no <VT>: an AE;
- a frame over the size limit: an AE, then the connection is closed (the stream cannot be trusted);
- a connection that sends nothing for `idle_timeout` seconds: closed.

One log line per message: control id, event, ACK code (and error code); never PHI.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import signal
import threading
from concurrent.futures import Future
from dataclasses import dataclass

from hl7.mllp import start_hl7_server  # type: ignore[import-untyped]
from hl7.mllp.streams import CARRIAGE_RETURN, END_BLOCK, START_BLOCK  # type: ignore[import-untyped]

from portal_app import db
from portal_app.services import adt

log = logging.getLogger("portal_app.adt")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 2575
IDLE_TIMEOUT = 60.0  # seconds a connection may stay silent before it is closed
MAX_BATCH = 200  # messages applied in one transaction when they arrive together
MAX_FRAME = 1024 * 1024  # bytes; a larger frame is refused (AE) and the connection closed
NO_END = "The MLLP frame ended without its end bytes (<FS><CR>); the message was not applied."


def decode(block: bytes) -> str:
    """HL7 bytes as text: UTF-8, else Windows-1252 / Latin-1 (older senders)."""
    try:
        return block.decode("utf-8")
    except UnicodeDecodeError:
        return block.decode("latin-1")


def frame(ack: str) -> bytes:
    return START_BLOCK + ack.encode("utf-8") + END_BLOCK + CARRIAGE_RETURN


class _Database:
    """The one database thread. It takes every message waiting (from all connections, up to
    `MAX_BATCH`), applies them in order in one transaction with a savepoint each, commits once,
    then answers them all (group commit: one commit per burst, not per message). A frame that is
    only refused (lost end bytes, too large) is audited on its own."""

    def __init__(self, db_url: str | None) -> None:
        self.db_url = db_url
        self._queue: queue.SimpleQueue[tuple[str, str, Future[adt.Handled]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="adt-db", daemon=True)
        self._thread.start()

    def submit(self, text: str, reason: str = "") -> Future[adt.Handled]:
        """Apply `text`, or with a `reason`, only refuse it (AE, audited)."""
        done: Future[adt.Handled] = Future()
        self._queue.put((text, reason, done))
        return done

    def _take(self) -> list[tuple[str, str, Future[adt.Handled]]] | None:
        first = self._queue.get()
        if first is None:
            return None
        batch = [first]
        while len(batch) < MAX_BATCH:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self._queue.put(None)  # stop after this batch
                break
            batch.append(item)
        return batch

    def _run(self) -> None:
        while (batch := self._take()) is not None:
            try:
                self._work(batch)
            except Exception as error:  # noqa: BLE001 - the senders get an error, the thread lives on
                adt.log_failure("ADT database work failed")
                for _text, _reason, done in batch:
                    if not done.done():
                        done.set_exception(error)

    def _work(self, batch: list[tuple[str, str, Future[adt.Handled]]]) -> None:
        with db.session_scope(self.db_url) as session:
            start = 0
            while start < len(batch):
                text, reason, done = batch[start]
                if reason:
                    done.set_result(adt.refuse(session=session, text=text, reason=reason))
                    start += 1
                    continue
                end = next((i for i in range(start, len(batch)) if batch[i][1]), len(batch))
                run = batch[start:end]
                answers = adt.handle_many(session=session, texts=[text for text, _reason, _done in run])
                for (_text, _reason, waiting), handled in zip(run, answers, strict=True):
                    waiting.set_result(handled)
                start = end

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(30)


@dataclass
class Listener:
    """The listener's settings and its database thread."""

    idle_timeout: float = IDLE_TIMEOUT
    db_url: str | None = None
    max_frame: int = MAX_FRAME
    _database: _Database | None = None

    async def _off_loop(self, text: str, reason: str = "") -> adt.Handled:
        if self._database is None:
            self._database = _Database(self.db_url)
        return await asyncio.wrap_future(self._database.submit(text, reason))

    async def _answer(self, writer, handled: adt.Handled, peer: str) -> None:
        log.info("%s peer=%s", adt.log_line(handled), peer)
        writer.write(frame(handled.ack))
        await writer.drain()

    async def _frames(self, writer, block: bytes, peer: str) -> None:
        """One block up to <FS><CR>. Bytes before its <VT> are noise (logged, not answered: the
        sender gets one ACK per frame it sent); a <VT> inside means an earlier frame lost its end
        bytes: that one gets an AE, the last one is applied. No <VT> at all: an AE."""
        parts = block.split(START_BLOCK)
        if len(parts) == 1:
            reason = "Data arrived outside an MLLP frame (no <VT> first)."
            await self._answer(writer, await self._off_loop("", reason), peer)
            return
        if parts[0].strip():
            log.info("skipped %d bytes outside a frame peer=%s", len(parts[0]), peer)
        for lost in parts[1:-1]:
            if lost.strip():
                await self._answer(writer, await self._off_loop(decode(lost), NO_END), peer)
        await self._answer(writer, await self._off_loop(decode(parts[-1])), peer)

    async def _partial(self, writer, partial: bytes, peer: str) -> None:
        """Answer a frame that never got its end bytes (if there is one to answer)."""
        start = partial.rfind(START_BLOCK)
        text = decode(partial[start + 1:].rstrip(END_BLOCK)) if start >= 0 else ""
        if text.strip():
            await self._answer(writer, await self._off_loop(text, NO_END), peer)

    async def _next(self, reader, writer, peer: str) -> bool:
        """Read and answer one frame. False: the connection is done.

        The library's `readblock` would drop a frame that follows stray bytes, so the frame is
        read with the stream's own `readuntil` and split here."""
        try:
            block = await asyncio.wait_for(reader.readuntil(END_BLOCK + CARRIAGE_RETURN), self.idle_timeout)
        except asyncio.TimeoutError:
            pending = bytes(getattr(reader, "_buffer", b""))  # a frame begun and never ended
            log.info("connection idle for %.0f s, closing peer=%s", self.idle_timeout, peer)
            await self._partial(writer, pending, peer)
            return False
        except asyncio.IncompleteReadError as ended:  # the sender closed its side
            await self._partial(writer, ended.partial, peer)
            return False
        except asyncio.LimitOverrunError:  # over the size limit: the rest of the stream cannot be trusted
            reason = f"The message is larger than {self.max_frame // 1024} KB."
            await self._answer(writer, await self._off_loop("", reason), peer)
            return False
        await self._frames(writer, block[:-2], peer)
        return True

    async def connection(self, reader, writer) -> None:
        """One sender's connection: frames one at a time until it closes or goes silent."""
        address = writer.get_extra_info("peername")
        peer = f"{address[0]}:{address[1]}" if isinstance(address, tuple) else str(address)
        try:
            while await self._next(reader, writer, peer):
                pass
        except (ConnectionError, OSError) as error:
            log.info("connection lost peer=%s (%s)", peer, type(error).__name__)
        except Exception:  # noqa: BLE001 - one bad connection never stops the listener
            adt.log_failure(f"connection failed peer={peer}")
        finally:
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), 5)
            except (asyncio.TimeoutError, ConnectionError, OSError):
                pass

    async def start(self, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> asyncio.Server:
        """Start listening (port 0: any free port; read it from the server's sockets)."""
        return await start_hl7_server(self.connection, host, port, limit=self.max_frame)

    def close(self) -> None:
        if self._database is not None:
            self._database.close()


async def serve(host: str, port: int, *, idle_timeout: float = IDLE_TIMEOUT) -> None:
    """Run until SIGINT or SIGTERM; connections in progress finish their current message."""
    listener = Listener(idle_timeout=idle_timeout)
    server = await listener.start(host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    bound = ", ".join(f"{s.getsockname()[0]}:{s.getsockname()[1]}" for s in server.sockets)
    log.info("ADT listener on %s (MLLP; idle timeout %.0f s)", bound, idle_timeout)
    async with server:
        await stop.wait()
    listener.close()
    log.info("ADT listener stopped")
