"""A TCP proxy on 127.0.0.1 for the tests, to play a network partition.

``TcpProxy(port)`` forwards every connection to ``127.0.0.1:port``.  After
:meth:`partition`, it forwards nothing more, either way, but keeps every
socket open: what a client sees when a network between it and its server
drops packets without a word (no reset, no close), except that the local
kernel still acknowledges what is sent, so only a deadline of the client's
own notices.  :meth:`drop_clients` closes the clients' side of every
connection and keeps the server's side open, forwarding nothing: a proxy or
load balancer whose client went away (a worker killed, its host gone) while
it holds on to the server connection.  :meth:`lose_reply_to` forwards the
next client message holding a marker (``b"COMMIT"``), then drops everything
the server says on that connection: a reply lost in a restart, with the
statement done on the server.  While :attr:`refusing` is set, a new
connection is closed at once (a server not taking connections yet), the
ones open go on.  :meth:`stop` closes everything.
"""

from __future__ import annotations

import selectors
import socket
import threading


class TcpProxy:
    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.cut = threading.Event()
        self.closing = threading.Event()
        self.sockets: list[socket.socket] = []
        self.clients: list[socket.socket] = []
        self.lock = threading.Lock()
        self.marker: bytes | None = None  # see lose_reply_to
        self.muted: set[socket.socket] = set()  # servers whose replies are dropped
        self.muted_at = threading.Event()
        self.refusing = threading.Event()
        self.thread = threading.Thread(target=self._accept, name="tcp-proxy", daemon=True)
        self.thread.start()

    def url(self, url: str, real_port: int) -> str:
        """``url`` (a postgresql:// URL to the real server) through this proxy."""
        return url.replace(f":{real_port}/", f":{self.port}/", 1)

    def partition(self) -> None:
        self.cut.set()

    def drop_clients(self) -> None:
        self.cut.set()
        with self.lock:
            for sock in self.clients:
                sock.close()

    def lose_reply_to(self, marker: bytes) -> None:
        """Forward the next client message holding ``marker``, then drop what
        the server sends back on that connection (until it closes);
        :attr:`muted_at` is set once it was forwarded."""
        with self.lock:
            self.marker = marker

    def stop(self) -> None:
        self.closing.set()
        self.listener.close()
        with self.lock:
            for sock in self.sockets:
                sock.close()

    def _accept(self) -> None:
        while not self.closing.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.refusing.is_set():
                client.close()
                continue
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets += [client, server]
                self.clients.append(client)
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        sel = selectors.DefaultSelector()
        try:
            sel.register(a, selectors.EVENT_READ, b)
            sel.register(b, selectors.EVENT_READ, a)
            while not self.closing.is_set():
                if self.cut.is_set():
                    self.closing.wait(0.05)  # hold the sockets open, read nothing
                    continue
                for key, _ in sel.select(0.05):
                    if self.cut.is_set():
                        break
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return  # one side closed (the server restarted, the client exited)
                    if key.fileobj in self.muted:
                        continue  # the reply lost
                    key.data.sendall(data)
                    with self.lock:
                        if key.fileobj is a and self.marker is not None and self.marker in data:
                            self.marker = None
                            self.muted.add(b)
                            self.muted_at.set()
        except (OSError, ValueError):
            # Closed by stop() (a closed socket's descriptor is -1), or reset: a
            # server process that exits with a statement unread in its socket (a
            # restart as the statement arrives) resets the connection instead of
            # closing it.  This returned without a word to the other side, which
            # then waited for an answer for ever (a worker: ANSWER_WITHIN, exit 2,
            # in about one fleet test run in ten); a real proxy passes it on.
            return
        finally:
            sel.close()
            if not self.cut.is_set() or self.closing.is_set():  # (a partition holds both sides open)
                for sock in (a, b):  # the other side is told, as through a real proxy
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except (OSError, ValueError):
                        pass
