"""`winnow review compare`: a blind side-by-side of two runs' generations.

Both runs continue the same prompts with the same sampling seed per item.
Which run is shown on the left is drawn per item from the seed, so a
restart shows the same sides; the run names are revealed only once the
reviewer has voted on every item. Votes are stored like labels, one session
file per reviewer, in `review/` of both runs, so each run's report shows them.
torch is imported only when generations are made.
"""
from __future__ import annotations

import html
import random
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import xxhash
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from winnow import schemas
from winnow.core.jsonl import json_lines
from winnow.review.app import BadRequest, build_app, handle, item_index, page, read_post
from winnow.review.labels import (
    VOTES_PREFIX, LabelsConfigError, LabelsError, LabelsInputError, SessionFile, check_note, check_reviewer, check_text,
    now_utc, read_votes, review_dir,
)
from winnow.review.stats import wilson

COMPARE_STRATUM = "compare"
SIDES = ("left", "right", "tie")


@dataclass(frozen=True)
class CompareItem:
    index: int
    id: str
    prompt: str
    seed: int
    left: str  # which run is on the left: "a" or "b"
    text_a: str = ""
    text_b: str = ""


def read_prompts(path: Path) -> list[str]:
    """Prompts from a .txt file (one per non-empty line) or .jsonl ({"prompt": ...} or a string per line)."""
    if not path.is_file():
        raise LabelsConfigError(f"--prompts {path}: no such file")
    prompts: list[str] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise LabelsInputError(f"--prompts {path}: not UTF-8 text ({exc.reason})") from None
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        for n, obj in json_lines(lines, path, LabelsInputError):
            value = obj.get("prompt") if isinstance(obj, dict) else obj
            if not isinstance(value, str):
                raise LabelsInputError(f"{path}:{n}: expected a string or an object with a \"prompt\" string")
            try:  # a lone surrogate would make every vote on this prompt unstorable
                prompts.append(check_text(value, "prompt"))
            except LabelsError as exc:
                raise LabelsInputError(f"{path}:{n}: {exc}") from None
    else:
        prompts = [line for line in lines if line.strip()]
    if not prompts:
        raise LabelsInputError(f"--prompts {path}: no prompts found (one per line, or JSONL with \"prompt\")")
    return prompts


def plan_items(prompts: Sequence[str], samples: int, seed: int) -> list[CompareItem]:
    """`samples` items cycling through the prompts; an empty prompt starts a fresh document."""
    items = []
    for i in range(samples):
        p = i % len(prompts)
        prompt = prompts[p]
        item_id = f"p{p}s{i // len(prompts)}-{xxhash.xxh64_hexdigest(prompt.encode())[:8]}"
        rng = random.Random(f"{seed}:{item_id}")
        items.append(CompareItem(i, item_id, prompt, rng.randrange(2**31), "a" if rng.random() < 0.5 else "b"))
    return items


def generate_items(
    run_a: Path, run_b: Path, items: Sequence[CompareItem], max_new_tokens: int, temperature: float,
    top_k: int | None, device: str,
) -> list[CompareItem]:
    """The items with both runs' continuations (one model in memory at a time)."""
    import dataclasses

    from winnow.training.checkpoint import load_model_for_inference
    from winnow.training.generate import generate

    texts: dict[str, list[str]] = {}
    for name, run in (("a", run_a), ("b", run_b)):
        model, _, tokenizer = load_model_for_inference(run, device=device)
        texts[name] = [
            generate(model, tokenizer, it.prompt, max_new_tokens, temperature, top_k, it.seed).text for it in items
        ]
        del model
    return [dataclasses.replace(it, text_a=texts["a"][k], text_b=texts["b"][k]) for k, it in enumerate(items)]


class CompareSession:
    def __init__(self, run_a: Path, run_b: Path, items: list[CompareItem], reviewer: str):
        self.run_a, self.run_b = str(run_a.resolve()), str(run_b.resolve())
        if self.run_a == self.run_b:
            raise LabelsConfigError("--run A and --run B are the same run; compare two different runs")
        self.items = items
        self.reviewer = check_reviewer(reviewer)
        self.token = secrets.token_urlsafe(32)
        self.stores = [SessionFile(review_dir(r), VOTES_PREFIX, reviewer, schemas.review_votes_schema())
                       for r in (run_a, run_b)]
        self._lock = threading.Lock()
        ids = {it.id for it in items}
        previous = read_votes(run_a)
        self.votes: dict[str, str] = {
            d: v for d, v, who, a, b in zip(*(previous.column(c).to_pylist()
                                              for c in ("id", "vote", "reviewer", "run_a", "run_b")))
            if who == self.reviewer and a == self.run_a and b == self.run_b and d in ids
        }

    def done(self) -> bool:
        return len(self.votes) == len(self.items)

    def state(self) -> dict[str, Any]:
        first = next((it.index for it in self.items if it.id not in self.votes), 0)
        return {"voted": len(self.votes), "total": len(self.items), "position": first, "done": self.done()}

    def _side(self, item: CompareItem, vote: str | None) -> str | None:
        if vote in (None, "tie"):
            return vote
        return "left" if vote == item.left else "right"

    def item(self, index: int) -> dict[str, Any]:
        it = self.items[index]
        left, right = (it.text_a, it.text_b) if it.left == "a" else (it.text_b, it.text_a)
        return {"index": index, "prompt": it.prompt, "left": left, "right": right,
                "vote": self._side(it, self.votes.get(it.id))}

    def vote(self, index: int, side: str, note: str | None) -> dict[str, Any]:
        it = self.items[index]
        other = "b" if it.left == "a" else "a"
        vote = {"left": it.left, "right": other, "tie": "tie"}[side]
        row = {"id": it.id, "vote": vote, "reviewer": self.reviewer, "time": now_utc(), "note": check_note(note),
               "stratum": COMPARE_STRATUM, "run_a": self.run_a, "run_b": self.run_b, "prompt": it.prompt,
               "left": it.left}
        with self._lock:
            for store in self.stores:
                store.put(row)
            self.votes[it.id] = vote
        return self.state()

    def reveal(self) -> dict[str, Any]:
        if not self.done():
            raise BadRequest(409, f"vote on all {len(self.items)} items first ({len(self.votes)} so far)")
        values = list(self.votes.values())
        wa, wb, ties = (values.count(v) for v in ("a", "b", "tie"))
        interval = wilson(wa, wa + wb)
        return {"run_a": Path(self.run_a).name, "run_b": Path(self.run_b).name, "a_wins": wa, "b_wins": wb,
                "ties": ties, "a_win_rate": wa / (wa + wb) if wa + wb else None,
                "a_win_rate_ci": list(interval) if interval else None}


def compare_page(session: CompareSession) -> str:
    buttons = "".join(f"<button type=\"button\" data-vote=\"{s}\">{label}</button>" for s, label in (
        ("left", "left is better (1)"), ("tie", "tie (0)"), ("right", "right is better (2)")))
    return (
        f"<header><h1>Blind comparison</h1><span>reviewer <b>{html.escape(session.reviewer)}</b></span> "
        "<span id=\"progress\" aria-live=\"polite\"></span></header><main>"
        "<nav><button type=\"button\" id=\"prev\">previous (p)</button> <span id=\"position\"></span> "
        "<button type=\"button\" id=\"next\">next (n)</button></nav>"
        "<h2>Prompt</h2><pre id=\"prompt\"></pre><p id=\"current-vote\"></p>"
        "<div class=\"sides\"><section><h2>Left</h2><pre id=\"left\"></pre></section>"
        "<section><h2>Right</h2><pre id=\"right\"></pre></section></div>"
        "<label for=\"note\">Note (optional; / to focus, Esc to leave)</label><textarea id=\"note\" rows=\"2\"></textarea>"
        f"<div id=\"votes\">{buttons}</div><p id=\"status\" role=\"status\"></p>"
        "<section id=\"reveal\" hidden><h2>Result</h2><p id=\"result\"></p></section>"
        "<p class=\"help\">Keys: 1 left better, 2 right better, 0 tie, n next, p previous.</p></main>"
    )


def create_compare_app(session: CompareSession, host: str = "127.0.0.1", extra_hosts: Sequence[str] = ()) -> Any:
    async def index(request: Request) -> Response:
        return page("Winnow blind comparison", "compare.js", compare_page(session), session.token)

    async def state(request: Request) -> Response:
        return JSONResponse(session.state())

    async def item(request: Request) -> Response:
        return JSONResponse(session.item(item_index(request, len(session.items))))

    async def vote(request: Request) -> Response:
        i = item_index(request, len(session.items))
        body = await read_post(request, session.token)
        if body.get("vote") not in SIDES:
            raise BadRequest(400, f"vote must be one of {list(SIDES)}")
        note = body.get("note")
        if note is not None and not isinstance(note, str):
            raise BadRequest(400, "note must be text")
        return JSONResponse(session.vote(i, body["vote"], note))

    async def reveal(request: Request) -> Response:
        return JSONResponse(session.reveal())

    return build_app(
        [
            Route("/", index),
            Route("/api/state", handle(state)),
            Route("/api/items/{index:int}", handle(item)),
            Route("/api/items/{index:int}/vote", handle(vote), methods=["POST"]),
            Route("/api/reveal", handle(reveal)),
        ],
        host,
        extra_hosts,
    )
