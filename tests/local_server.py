"""A TCP server on 127.0.0.1 for the hostile stand-ins: each connection goes to ``_serve(sock)`` in a
thread of its own (daemon threads: a stand-in that never answers does not keep a test waiting); started by
``start()`` or a ``with`` block, stopped with it.

    class Dripping(LocalServer):
        def _serve(self, sock): ...
"""

from __future__ import annotations

import socket
import socketserver
import threading


class LocalServer:
    _server: socketserver.ThreadingTCPServer | None = None
    port = 0

    def _serve(self, sock: socket.socket) -> None:
        raise NotImplementedError

    def start(self):
        owner = self

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True
            block_on_close = False

            def finish_request(self, request, client_address):  # noqa: ANN001 - socketserver's API
                owner._serve(request)

        self._server = Server(("127.0.0.1", 0), socketserver.BaseRequestHandler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
