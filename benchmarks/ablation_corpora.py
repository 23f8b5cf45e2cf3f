"""Write the corpora the documented ablation runs use, from `../shared/data`.

docs/ablations.md runs `winnow ablate calibrate` and `winnow ablate` on the
shared real pages. Two of their inputs are not files of the shared data as
they stand, so this script writes them (JSON Lines, `id` and `text`):

- `base.jsonl`: the neutral corpus anneal mode trains its base model on. It
  must be text no arm trains on or is scored on: the 181 news articles of the
  extraction benchmark's ground truth and tinyshakespeare cut into passages
  of about 300 words at blank lines (so the 50/50 anneal mix can take base
  text page by page). Not Wikipedia: the reference text the arms are scored on
  is wikitext-2-test.
- `classifier-positives.jsonl`: the positives of the quality classifier of
  the three-recipe comparison: the warc-extra ground-truth texts (the main
  content of real pages, as people marked it), one per page.
- `clean-train.jsonl` and `clean-eval.txt`: the same ground-truth pages split
  by a hash of their id, 90% to plant junk into (`--clean`) and 10% as the
  in-domain reference text no arm trains on (`--eval-text`).

    .venv/bin/python benchmarks/ablation_corpora.py --output runs/ablation-corpora
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PASSAGE_WORDS = 300


def article_pages(shared: Path) -> Iterator[tuple[str, str]]:
    truth = json.loads((shared / "extraction/article-extraction-benchmark/ground-truth.json").read_text(encoding="utf-8"))
    for key in sorted(truth):
        body = (truth[key].get("articleBody") or "").strip()
        if body:
            yield f"article/{key[:16]}", body


def shakespeare_passages(shared: Path) -> Iterator[tuple[str, str]]:
    """Blank-line paragraphs (speeches) joined until a passage holds PASSAGE_WORDS words."""
    text = (shared / "text/tinyshakespeare.txt").read_text(encoding="utf-8")
    passage: list[str] = []
    words = 0
    number = 0
    for paragraph in text.split("\n\n"):
        passage.append(paragraph.strip("\n"))
        words += len(paragraph.split())
        if words >= PASSAGE_WORDS:
            yield f"shakespeare/{number:04d}", "\n\n".join(passage)
            number, passage, words = number + 1, [], 0
    if passage:
        yield f"shakespeare/{number:04d}", "\n\n".join(passage)


def truth_pages(shared: Path) -> Iterator[tuple[str, str]]:
    for path in sorted((shared / "warc-extra").glob("*.truth.jsonl")):
        with path.open(encoding="utf-8") as lines:
            for n, line in enumerate(lines):
                row = json.loads(line)
                text = (row.get("text") or "").strip()
                if text:
                    yield f"{path.name.split('.')[0]}/{row.get('id') or n}", text


EVAL_SHARE = 0.1


def in_eval_split(doc_id: str) -> bool:
    """A page belongs to the reference split by a hash of its id: stable, independent of file order."""
    digest = hashlib.sha256(f"winnow-calibration-eval:{doc_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") < EVAL_SHARE * 2**64


def write_jsonl(pages: Iterator[tuple[str, str]], path: Path) -> tuple[int, int]:
    count = words = 0
    with path.open("w", encoding="utf-8") as out:
        for doc_id, text in pages:
            out.write(json.dumps({"id": doc_id, "text": text}, ensure_ascii=False) + "\n")
            count += 1
            words += len(text.split())
    return count, words


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=SHARED, help="the shared data folder (default: ../shared/data)")
    parser.add_argument("--output", type=Path, required=True, help="folder to write the corpora into")
    args = parser.parse_args(argv)
    if not args.shared.is_dir():
        print(f"error: {args.shared} not found: these corpora are made from the shared data", file=sys.stderr)
        return 2
    args.output.mkdir(parents=True, exist_ok=True)
    base = write_jsonl(iter([*article_pages(args.shared), *shakespeare_passages(args.shared)]), args.output / "base.jsonl")
    positives = write_jsonl(truth_pages(args.shared), args.output / "classifier-positives.jsonl")
    pages = list(truth_pages(args.shared))
    train = write_jsonl(iter([p for p in pages if not in_eval_split(p[0])]), args.output / "clean-train.jsonl")
    held = [text for doc_id, text in pages if in_eval_split(doc_id)]
    (args.output / "clean-eval.txt").write_text("\n\n".join(held) + "\n", encoding="utf-8")
    print(f"{args.output / 'clean-train.jsonl'}: {train[0]:,} documents, {train[1]:,} words")
    print(f"{args.output / 'clean-eval.txt'}: {len(held):,} documents, {sum(len(t.split()) for t in held):,} words")
    print(f"{args.output / 'base.jsonl'}: {base[0]:,} documents, {base[1]:,} words")
    print(f"{args.output / 'classifier-positives.jsonl'}: {positives[0]:,} documents, {positives[1]:,} words")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
