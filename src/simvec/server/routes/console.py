"""The web console: one HTML page, its stylesheet and script, served from the package (no CDN, no build step).

The pages hold no data: they call the /v1 API from the browser, so they load without an API key and the API
keeps enforcing it. Every response carries a strict Content-Security-Policy (scripts and styles from this
server only, requests to this server only), a second line of defence behind the script's escaping of
document text and metadata.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import Response

from simvec.server.state import error

router = APIRouter(include_in_schema=False)

ASSETS = {"console.js": "text/javascript; charset=utf-8", "console.css": "text/css; charset=utf-8"}
# The client-side router owns everything under /ui; the server answers the same page for each of them.
PAGES = ("/", "/ui", "/ui/", "/ui/search", "/ui/compare", "/ui/similarity", "/ui/map", "/ui/collections/{name}")
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def is_open(path: str) -> bool:
    """True for the console's own paths, which need no API key (they serve no data)."""
    return path == "/" or path == "/ui" or path.startswith("/ui/")


def _asset(name: str) -> bytes:
    return resources.files("simvec.server").joinpath("console", name).read_bytes()


async def page() -> Response:
    """The console's single HTML page."""
    return Response(_asset("index.html"), media_type="text/html; charset=utf-8", headers=SECURITY_HEADERS)


for _path in PAGES:
    router.add_api_route(_path, page, methods=["GET"], response_class=Response)


@router.get("/ui/static/{name}")
async def static(name: str) -> Response:
    """A console asset; only the files listed in ASSETS exist (so no path ever reaches the file system)."""
    if name not in ASSETS:
        return error(404, f"no console asset {name!r}", "not_found")
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-cache"}
    return Response(_asset(name), media_type=ASSETS[name], headers=headers)
