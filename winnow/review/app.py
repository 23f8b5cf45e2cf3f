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
- the Host header must be one this server was started for (DNS rebinding).
"""
from __future__ import annotations

import html
import json
import secrets
import threading
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from winnow import schemas
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


class BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def allowed_hosts_for(host: str) -> list[str]:
    """Host headers to accept: loopback names, or any when bound to all interfaces."""
    if host in ("0.0.0.0", "::", ""):
        return ["*"]
    return sorted({host, *LOOPBACK_HOSTS})


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


async def read_post(request: Request, token: str) -> dict[str, Any]:
    """The JSON object of a state-changing request, after the token and content checks."""
    sent = request.headers.get(TOKEN_HEADER, "")
    if not secrets.compare_digest(sent.encode(), token.encode()):
        raise BadRequest(403, "missing or wrong session token; reload the page")
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise BadRequest(415, "expected a JSON body (Content-Type: application/json)")
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise BadRequest(413, f"request body over {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
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
    async def headers(request: Request, call_next: Callable) -> Response:
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    return Starlette(
        routes=[*routes, Route("/static/{name}", static_file)],
        middleware=[
            Middleware(TrustedHostMiddleware, allowed_hosts=[*allowed_hosts_for(host), *extra_hosts]),
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
