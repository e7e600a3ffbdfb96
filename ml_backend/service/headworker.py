"""A gunicorn gthread worker whose threads only ever see a complete request head.

gunicorn's gthread worker (27.0.1) hands a connection to a thread as soon as its first bytes
arrive, and the thread then reads the rest of the head with blocking reads and no deadline. A
client that sends one header line every few seconds therefore holds a thread for as long as it
likes; eight such clients took every thread of the service, /health included.

This worker reads each connection's head in its event loop instead, without blocking, and gives
the connection to a thread only once the head is complete (the bytes read go back into gunicorn's
own parser, the way gunicorn itself re-feeds a sniffed HTTP/2 preface). A connection whose head
is not complete within ``HEAD_TIMEOUT_S``, or grows past ``MAX_HEAD_BYTES``, is closed. A slow
client then costs a socket and a small buffer, never a thread. A kept-alive connection's next
request goes through the same path.

Why not gevent: gunicorn's gevent worker monkey-patches the process, which would turn the job
runner's threads into greenlets that CPU work (tokenising, parsing a large /predict batch) never
preempts, so /health would stall behind them, the very thing this worker prevents.
"""

from __future__ import annotations

import errno
import selectors
import socket
import time
from collections import deque
from functools import partial
from typing import Any

from gunicorn.workers.gthread import TConn, ThreadWorker

HEAD_TIMEOUT_S = 10.0
MAX_HEAD_BYTES = 64 * 1024
_END_OF_HEAD = b"\r\n\r\n"


class _HeadConn(TConn):
    """A connection with the head bytes the event loop already read for it."""

    def __init__(self, cfg: Any, sock: socket.socket, client: Any, server: Any) -> None:
        super().__init__(cfg, sock, client, server)
        self.head = bytearray()
        self.timeout = time.monotonic() + HEAD_TIMEOUT_S

    def init(self) -> None:
        fresh = not self.initialized
        super().init()
        if fresh and self.head and not self.is_http2:
            self.parser.unreader.unread(bytes(self.head))
            self.head.clear()


class WholeHeadWorker(ThreadWorker):
    """gthread, except that a thread gets a connection only with its whole request head read."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reading_heads: deque[_HeadConn] = deque()

    def accept(self, listener: socket.socket) -> None:
        if self.cfg.is_ssl:  # TLS bytes are no head to look at: gthread's own path
            super().accept(listener)
            return
        try:
            client_sock, client_addr = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        conn = _HeadConn(self.cfg, client_sock, client_addr, listener.getsockname())
        self.reading_heads.append(conn)
        self.poller.register(client_sock, selectors.EVENT_READ, partial(self._read_head, conn))

    def on_client_socket_readable(self, conn: _HeadConn, client: socket.socket) -> None:
        """A kept-alive connection's next request: its head is read here too, not in a thread."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        conn.timeout = time.monotonic() + HEAD_TIMEOUT_S
        self.reading_heads.append(conn)
        self.poller.register(client, selectors.EVENT_READ, partial(self._read_head, conn))

    def _read_head(self, conn: _HeadConn, _sock: Any) -> None:
        try:
            data = conn.sock.recv(MAX_HEAD_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if data:
            conn.head += data
        if not data or len(conn.head) > MAX_HEAD_BYTES:
            self._drop(conn)
        elif _END_OF_HEAD in conn.head:
            self._forget(conn)
            conn.data_ready = True
            if conn.initialized:  # kept alive: its parser exists, and takes the bytes now
                conn.parser.unreader.unread(bytes(conn.head))
                conn.head.clear()
            self.enqueue_req(conn)

    def murder_pending(self) -> None:
        """Also close the connections whose head did not arrive in time (the list is in deadline order)."""
        super().murder_pending()
        now = time.monotonic()
        while self.reading_heads and self.reading_heads[0].timeout <= now:
            self._drop(self.reading_heads[0])

    def _forget(self, conn: _HeadConn) -> None:
        self.reading_heads.remove(conn)
        try:
            self.poller.unregister(conn.sock)
        except (KeyError, ValueError, OSError):
            pass

    def _drop(self, conn: _HeadConn) -> None:
        self._forget(conn)
        self.nr_conns -= 1
        conn.close()
