"""The review web application (Starlette), served by uvicorn from `winnow review serve`.

Security, because crawled text is hostile input and the server may be reachable:
- the page builds every value with `textContent` (never innerHTML) and the
  server escapes the few strings it renders itself; a Content-Security-Policy
  that allows only this server's own script and style files backs this up,
  so even a missed escape could not run an inline script or event handler;
- state changes are POSTs with a JSON body and the session's token in the
  `X-Review-Token` header (a cross-site form can send neither);
- the client names documents by their position in the sample and static
  files from a fixed list: nothing it sends becomes a filesystem path;
- the Host header must be one this server was started for (DNS rebinding):
  on loopback, the loopback names; on any other interface, only the names
  given with `--allow-host` (the server refuses to start without them), and
  there a browser's Origin header must name one of them too;
- request bodies are counted while they arrive and refused (413) past
  MAX_BODY_BYTES, so a huge POST is never buffered;
- a label or vote whose text cannot be stored (a lone surrogate) is refused
  with 400 and nothing of it is kept, so the session goes on.
"""
from __future__ import annotations

import html
import ipaddress
import json
import secrets
import threading
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from winnow import schemas
from winnow.core.errors import ConfigurationError, InputError
from winnow.review.labels import LABELS, LABELS_PREFIX, LabelsError, SessionFile, label_row, read_labels, review_dir
from winnow.review.sample import SampleItem

TOKEN_HEADER = "x-review-token"
STATIC_FILES = {"review.js": "text/javascript", "compare.js": "text/javascript", "review.css": "text/css"}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'none'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
MAX_BODY_BYTES = 16_384
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


class BadRequest(InputError):
    """A request the review server answers with HTTP `status` (`handle` turns it into a JSON error)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class ExposureError(ConfigurationError):
    """A non-loopback interface without an explicit list of host names to accept."""


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def check_allow_host(name: str) -> str:
    """One `--allow-host` value: a host name or address (lower case), or `*.domain`; never a bare `*`."""
    value = name.strip().lower()
    bare = value[2:] if value.startswith("*.") else value
    if not bare or (any(c in bare for c in "*/:@ ") and not _is_ip_literal(bare)):
        raise ExposureError(
            f"--allow-host {name!r}: give a host name or address as clients type it, without scheme or port "
            "(e.g. review.lan, 192.168.1.20, *.corp.example)"
        )
    return value


def allowed_hosts_for(host: str, allow: Sequence[str] = ()) -> list[str]:
    """Host headers to accept.

    Loopback: the loopback names (plus `allow`). Any other interface: exactly the
    names in `allow`, the bound address itself when it is one address, and the
    loopback names; an empty `allow` there is an ExposureError, because without
    a list any DNS name pointed at this machine (DNS rebinding) would be served.
    """
    names = [check_allow_host(a) for a in allow]
    if is_loopback(host):
        return sorted({host, *LOOPBACK_HOSTS, *names})
    if not names:
        raise ExposureError(
            f"--host {host} makes the review server reachable from other machines: name the host names "
            "clients will use with --allow-host (repeatable), e.g. --allow-host review.lan --allow-host 192.168.1.20"
        )
    bound = [host] if _is_ip_literal(host) and not ipaddress.ip_address(host.strip("[]")).is_unspecified else []
    return sorted({*bound, *LOOPBACK_HOSTS, *names})


def host_matches(name: str, allowed: Sequence[str]) -> bool:
    """`name` (no port) against exact names and `*.domain` patterns, case-insensitively."""
    name = name.lower().strip("[]")
    if not name:
        return False
    for pattern in allowed:
        pattern = pattern.lower().strip("[]")
        if name == pattern or (pattern.startswith("*.") and name.endswith(pattern[1:])):
            return True
    return False


def host_of(header: str) -> str:
    """The host name of a Host header value, without the port; `[::1]:8765` gives `::1`."""
    if header.startswith("["):
        return header[1:].partition("]")[0]
    return header.partition(":")[0]


class HostGuard:
    """Refuse a request whose Host is not in `allowed` (400), and, with `check_origin`,
    one whose Origin header names a host outside it (403).

    Browsers send Origin on cross-site requests and on every POST; a request
    without one (curl, a plain navigation) is left to the Host check. Written
    here rather than Starlette's TrustedHostMiddleware, which cuts an IPv6
    Host such as `[::1]:8765` at its first colon.
    """

    def __init__(self, app: ASGIApp, allowed: Sequence[str], check_origin: bool):
        self.app = app
        self.allowed = list(allowed)
        self.check_origin = check_origin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            headers = Headers(scope=scope)
            if not host_matches(host_of(headers.get("host", "")), self.allowed):
                await PlainTextResponse("Invalid host header", status_code=400)(scope, receive, send)
                return
            origin = headers.get("origin")
            if self.check_origin and origin is not None and not host_matches(urlsplit(origin).hostname or "", self.allowed):
                await PlainTextResponse("origin not allowed", status_code=403)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def static_file(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in STATIC_FILES:  # a fixed list: the client's string never reaches the filesystem
        return Response("not found", status_code=404, media_type="text/plain")
    body = resources.files("winnow.review").joinpath("static", name).read_bytes()
    return Response(body, media_type=STATIC_FILES[name], headers={"Cache-Control": "no-cache"})


def page(title: str, script: str, body: str, token: str) -> HTMLResponse:
    """The HTML shell; `body` must already be escaped markup."""
    esc = html.escape
    return HTMLResponse(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<meta name=\"review-token\" content=\"{esc(token)}\"><title>{esc(title)}</title>"
        "<link rel=\"stylesheet\" href=\"/static/review.css\">"
        f"<script src=\"/static/{esc(script)}\" defer></script></head><body>{body}</body></html>"
    )


async def read_limited(request: Request, limit: int) -> bytes:
    """The request body, counted while it arrives: past `limit` bytes, 413 without reading the rest."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BadRequest(400, "invalid Content-Length header")
        if int(declared) > limit:
            raise BadRequest(413, f"request body over {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:  # a chunked body, or one longer than it said
            raise BadRequest(413, f"request body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_post(request: Request, token: str) -> dict[str, Any]:
    """The JSON object of a state-changing request, after the token and content checks."""
    sent = request.headers.get(TOKEN_HEADER, "")
    if not secrets.compare_digest(sent.encode(), token.encode()):
        raise BadRequest(403, "missing or wrong session token; reload the page")
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise BadRequest(415, "expected a JSON body (Content-Type: application/json)")
    raw = await read_limited(request, MAX_BODY_BYTES)
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nesting deeper than Python's stack
        raise BadRequest(400, "request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest(400, "request body must be a JSON object")
    return body


def item_index(request: Request, count: int) -> int:
    index = request.path_params["index"]
    if not 0 <= index < count:
        raise BadRequest(404, f"no item {index}; the sample has {count}")
    return index


def handle(fn: Callable[[Request], Any]) -> Callable[[Request], Any]:
    """Route wrapper: BadRequest and LabelsError become JSON errors."""
    async def endpoint(request: Request) -> Response:
        try:
            return await fn(request)
        except BadRequest as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except LabelsError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
    return endpoint


def build_app(routes: Sequence[Route], host: str, extra_hosts: Sequence[str] = ()) -> Starlette:
    """The app with its security middleware; `extra_hosts` is the `--allow-host` list."""
    allowed = allowed_hosts_for(host, extra_hosts)

    async def headers(request: Request, call_next: Callable) -> Response:
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    return Starlette(
        routes=[*routes, Route("/static/{name}", static_file)],
        middleware=[
            Middleware(HostGuard, allowed=allowed, check_origin=not is_loopback(host)),
            Middleware(BaseHTTPMiddleware, dispatch=headers),
        ],
    )


class ReviewSession:
    """One reviewer's pass over a sample: what they labelled, and the file it goes to."""

    def __init__(self, out_dir: Path, items: list[SampleItem], texts: dict[str, str | None], reviewer: str):
        self.out_dir = out_dir
        self.items = items
        self.texts = texts
        self.token = secrets.token_urlsafe(32)
        self.store = SessionFile(review_dir(out_dir), LABELS_PREFIX, reviewer, schemas.review_labels_schema())
        self.reviewer = self.store.reviewer  # checked and stripped
        self._lock = threading.Lock()
        # Resume: this reviewer's latest label for each sampled document, from every earlier session.
        previous = read_labels(out_dir)
        mine = {
            d: (label, note)
            for d, label, note, who in zip(*(previous.column(c).to_pylist() for c in ("id", "label", "note", "reviewer")))
            if who == self.reviewer
        }
        sampled = {item.record.id for item in items}
        self.labels: dict[str, tuple[str, str | None]] = {d: v for d, v in mine.items() if d in sampled}

    def progress(self) -> dict[str, int]:
        return {"labelled": len(self.labels), "total": len(self.items)}

    def first_unlabelled(self) -> int:
        return next((i.index for i in self.items if i.record.id not in self.labels), 0)

    def state(self) -> dict[str, Any]:
        return {
            **self.progress(), "position": self.first_unlabelled(), "reviewer": self.reviewer,
            "items": [{"index": i.index, "stratum": i.stratum, "label": self.labels.get(i.record.id, (None,))[0]}
                      for i in self.items],
        }

    def item(self, index: int) -> dict[str, Any]:
        it = self.items[index]
        r = it.record
        label, note = self.labels.get(r.id, (None, None))
        return {
            "index": index, "id": r.id, "stratum": it.stratum, "verdict": r.verdict, "stage": r.stage,
            "reason": r.reason, "fields": r.fields, "signals": r.signals, "scores": r.scores,
            "text": self.texts.get(r.id), "has_text": r.has_text, "label": label, "note": note,
        }

    def put_label(self, index: int, label: str, note: str | None) -> dict[str, int]:
        it = self.items[index]
        row = label_row(it.record.id, label, self.reviewer, note, it.stratum)
        with self._lock:
            self.store.put(row)
            self.labels[it.record.id] = (label, row["note"])
        return self.progress()


def review_page(session: ReviewSession) -> str:
    esc = html.escape
    buttons = "".join(
        f"<button type=\"button\" data-label=\"{k}\" title=\"key {k[0]}\">{k} ({k[0]})</button>" for k in LABELS
    )
    return (
        f"<header><h1>Review: <span>{esc(session.out_dir.name or str(session.out_dir))}</span></h1>"
        f"<span>reviewer <b>{esc(session.reviewer)}</b></span> <span id=\"progress\" aria-live=\"polite\"></span></header>"
        "<main><nav><button type=\"button\" id=\"prev\">previous (p)</button> <span id=\"position\"></span> "
        "<button type=\"button\" id=\"next\">next (n)</button></nav>"
        "<dl id=\"meta\"></dl><p id=\"current-label\"></p>"
        "<h2>Text</h2><pre id=\"text\"></pre>"
        "<h2>Signals and scores</h2><table id=\"signals\"><tbody></tbody></table>"
        "<label for=\"note\">Note (optional; / to focus, Esc to leave)</label><textarea id=\"note\" rows=\"2\"></textarea>"
        f"<div id=\"labels\">{buttons}</div><p id=\"status\" role=\"status\"></p>"
        "<p class=\"help\">Keys: g good, b bad, s skip, n or &rarr; next, p or &larr; previous, / note.</p></main>"
    )


def create_review_app(session: ReviewSession, host: str = "127.0.0.1", extra_hosts: Sequence[str] = ()) -> Starlette:
    """The labelling app for one session."""

    async def index(request: Request) -> Response:
        return page(f"Winnow review: {session.out_dir.name}", "review.js", review_page(session), session.token)

    async def state(request: Request) -> Response:
        return JSONResponse(session.state())

    async def item(request: Request) -> Response:
        return JSONResponse(session.item(item_index(request, len(session.items))))

    async def label(request: Request) -> Response:
        i = item_index(request, len(session.items))
        body = await read_post(request, session.token)
        value, note = body.get("label"), body.get("note")
        if value not in LABELS:
            raise BadRequest(400, f"label must be one of {list(LABELS)}")
        if note is not None and not isinstance(note, str):
            raise BadRequest(400, "note must be text")
        return JSONResponse(session.put_label(i, value, note))

    return build_app(
        [
            Route("/", index),
            Route("/api/state", handle(state)),
            Route("/api/items/{index:int}", handle(item)),
            Route("/api/items/{index:int}/label", handle(label), methods=["POST"]),
        ],
        host,
        extra_hosts,
    )
