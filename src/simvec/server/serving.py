"""Running the app under uvicorn with the connection limits a public server needs.

uvicorn's defaults let slow or idle clients hold connections indefinitely. `serve` sets:
  - `timeout_keep_alive` (KEEP_ALIVE_SECONDS): an idle keep-alive connection is closed after this;
  - `limit_concurrency` (MAX_CONNECTIONS): beyond this many open connections and tasks, new requests get 503
    at once instead of piling up (half-sent requests count against it, so they cannot starve the process of
    file descriptors or memory);
  - `h11_max_incomplete_event_size` (MAX_HEADER_BYTES): request headers larger than this are refused.
uvicorn has no timeout for a request whose headers arrive slowly; `HeaderTimeout` closes a connection that has
not sent a complete request head within HEADER_SECONDS of connecting (or of its previous response).
"""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

KEEP_ALIVE_SECONDS = 5
MAX_CONNECTIONS = 512
MAX_HEADER_BYTES = 64 * 1024
HEADER_SECONDS = 10.0


def header_timeout_protocol() -> type:
    """uvicorn's h11 protocol with a deadline for each request head (slow-header clients are disconnected)."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderTimeout(H11Protocol):
        _head_timer: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            self._disarm()
            self._head_timer = self.loop.call_later(HEADER_SECONDS, self._too_slow)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _too_slow(self) -> None:
            if self.cycle is None or self.cycle.response_complete:  # still waiting for a request head
                self.transport.close()

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def handle_events(self) -> None:
            before = self.cycle
            super().handle_events()
            if self.cycle is not before:  # a complete request head arrived
                self._disarm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()  # the next request on this keep-alive connection gets its own deadline

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return HeaderTimeout


def run(app: FastAPI, host: str, port: int, log_level: str) -> None:
    """Serve `app` until interrupted, with the limits above."""
    import uvicorn

    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level,
        http=header_timeout_protocol(),
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        limit_concurrency=MAX_CONNECTIONS,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
    )
