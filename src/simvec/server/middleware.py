"""ASGI middleware that must act before FastAPI parses a request."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from simvec.server.state import error


class BodySizeLimit:
    """ASGI middleware: refuse bodies over `max_bytes` (declared or streamed) with 413."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        message = f"request body exceeds the limit of {self.max_bytes} bytes (max_body_bytes)"
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await error(413, message, "request_too_large")(scope, receive, send)
        seen = 0
        app_started = refused = False

        async def counting_receive() -> Message:
            nonlocal seen, refused
            event = await receive()
            seen += len(event.get("body", b""))
            if seen > self.max_bytes and not refused and not app_started:
                # Answer 413 now and tell the app the client left: FastAPI would turn an exception
                # raised here into a generic 400.
                refused = True
                await error(413, message, "request_too_large")(scope, receive, send)
                return {"type": "http.disconnect"}
            return event

        async def guarded_send(event: Message) -> None:
            nonlocal app_started
            if refused:
                return  # the 413 has been sent; drop whatever the app answers
            app_started = app_started or event["type"] == "http.response.start"
            await send(event)

        await self.app(scope, counting_receive, guarded_send)
