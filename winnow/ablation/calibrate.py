"""`winnow ablate calibrate`: can this instrument see junk at all?

Known-answer checks run with exactly the instrument (budget, model, seeds,
metrics, significance level) an ablation uses:

- doses: junk pages planted into the clean corpus so that they are `dose`
  of its pages (`curation/junk.py`'s generated junk, or the user's own junk
  pages); each dosed corpus is compared with the clean one, and `worse`
  means the instrument saw the damage;
- A/A: the clean corpus against itself under another name, its documents in
  another order (so another data order): it must come out `inconclusive`;
- data dose: half of the clean pages (chosen by id hash) against all of
  them.

Writes OUTPUT/ablate/calibration.json (format below) and the report section.
`smallest_dose_detected` is the smallest dose whose primary metric (bits
per byte on the clean reference text) came out `worse`, or null.

    {"doses": [{"dose", "metric", "mean_diff", "ci95", "p_value", "verdict", "mde", ...}, ...],
     "aa": [...one per metric...], "data_dose": [...], "smallest_dose_detected": 0.3,
     "smallest_dose_detected_by_metric": {...}, "aa_passed": true, ...}
"""
from __future__ import annotations

import glob
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from winnow.ablation.arms import Arm, ArmError, Instrument, run_arms, say
from winnow.ablation.scoring import PRIMARY_METRIC
from winnow.ablation.stats import INCONCLUSIVE, WORSE
from winnow.core.atomic import atomic_write_json
from winnow.core.errors import ConfigurationError

DEFAULT_DOSES = (0.1, 0.3, 0.6)
JUNK_SEED = 0
CLEAN_ARM = "clean"
AA_ARM = "clean-aa"
HALF_ARM = "clean-half"
DATA_DOSE_FRACTION = 0.5
COMPARISON_FIELDS = ("mean_diff", "ci95", "p_value", "verdict", "mde")

Page = tuple[str, str]  # (id, text)


class CalibrationError(ConfigurationError):
    """Calibration inputs are unusable; the message says which and why."""


def read_pages(specs: Sequence[str], role: str) -> list[Page]:
    """(id, text) of every non-blank document of the JSONL, Parquet or text files
    (globs allowed); ids are prefixed with the file's stem so they stay unique
    across files. A file that cannot be read, or a bad line, is an error."""
    from winnow.curation.readers import ReaderOptions, detect_format, iter_records
    from winnow.curation.archive import ReadFailure

    paths = []
    for spec in specs:
        found = sorted(glob.glob(spec)) or ([spec] if Path(spec).is_file() else [])
        if not found:
            raise CalibrationError(f"--{role} {spec}: no such file")
        paths.extend(found)
    pages: list[Page] = []
    for path in paths:
        with open(path, "rb") as stream:
            for n, item in enumerate(iter_records(stream, path, detect_format(path), ReaderOptions())):
                if isinstance(item, ReadFailure):
                    raise CalibrationError(f"--{role} {path}: {item.error_type}: {item.message}")
                if item.text.strip():
                    pages.append((f"{Path(path).name}/{item.id or item.position or n}", item.text))
    if not pages:
        raise CalibrationError(f"--{role}: no non-blank documents in {', '.join(paths)}")
    if len({i for i, _ in pages}) != len(pages):
        raise CalibrationError(f"--{role}: document ids repeat within a file")
    return pages


def write_corpus(pages: Sequence[Page], path: Path) -> str:
    """One Parquet file of documents (`id`, `text`), the layout tokenizing reads.
    An unchanged corpus is not rewritten, so the later stages see it as unchanged."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    digest = pages_digest(pages)
    stamp = path.with_suffix(".sha256")
    if path.is_file() and stamp.is_file() and stamp.read_text() == digest:
        return str(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table({"id": pa.array([i for i, _ in pages], pa.string()), "text": pa.array([t for _, t in pages], pa.string())})
    tmp = path.with_suffix(".tmp")
    pq.write_table(table, tmp)
    tmp.replace(path)
    stamp.write_text(digest)
    return str(path)


def pages_digest(pages: Sequence[Page]) -> str:
    import hashlib

    h = hashlib.sha256()
    for doc_id, text in pages:
        h.update(doc_id.encode("utf-8", "surrogatepass") + b"\0" + text.encode("utf-8", "surrogatepass") + b"\0")
    return h.hexdigest()


def read_corpus(documents: str) -> list[Page]:
    from winnow.schemas.inputs import resolve_parquet_inputs
    from winnow.training.parquet_text import iter_text_batches

    pages: list[Page] = []
    for batch in iter_text_batches(resolve_parquet_inputs(documents)):
        pages.extend((i, t) for i, t in zip(batch.pylist("id"), batch.pylist("text")) if t and t.strip())
    return pages


def junk_pages(clean: Sequence[Page], dose: float, given: Sequence[Page] | None, seed: int = JUNK_SEED) -> list[Page]:
    """The junk to plant at `dose`: a prefix of one fixed list, so a larger dose
    holds every junk page of a smaller one."""
    from winnow.curation.junk import generate_junk, junk_count

    count = junk_count(len(clean), dose)
    if given is not None:
        if count > len(given):
            raise CalibrationError(f"dose {dose:g} needs {count} junk pages, --junk has {len(given)}")
        return list(given[:count])
    return [(p.id, p.text) for p in generate_junk(count, seed, [t for _, t in clean])]


def half_of(clean: Sequence[Page]) -> list[Page]:
    """Half of the pages, chosen by a hash of the id independent of the held-out split's."""
    from winnow.training.parquet_text import sample_key

    ranked = sorted(clean, key=lambda p: sample_key(p[0], seed=7))
    keep = {i for i, _ in ranked[: max(1, int(len(ranked) * DATA_DOSE_FRACTION))]}
    return [p for p in clean if p[0] in keep]


def build_arms(clean: Sequence[Page], doses: Sequence[float], junk: Sequence[Page] | None, root: Path) -> list[Arm]:
    """The clean baseline, the A/A copy, the half, and one arm per dose.

    Every arm's pages are in a seeded random order, so no arm differs from the
    baseline by document order (sources often come grouped, e.g. one file per
    site) as well as by its content: the baseline and the half use one order,
    each dosed corpus the planting order, the A/A copy an order of its own."""
    from winnow.curation.junk import plant

    corpora = root / "corpora"
    baseline = plant(clean, [], seed=JUNK_SEED)
    reordered = list(clean)
    random.Random("winnow-aa").shuffle(reordered)
    half = set(i for i, _ in half_of(clean))
    arms = [
        Arm(CLEAN_ARM, write_corpus(baseline, corpora / f"{CLEAN_ARM}.parquet"), root / CLEAN_ARM, {"role": "baseline"}),
        Arm(AA_ARM, write_corpus(reordered, corpora / f"{AA_ARM}.parquet"), root / AA_ARM, {"role": "aa"}),
        Arm(HALF_ARM, write_corpus([p for p in baseline if p[0] in half], corpora / f"{HALF_ARM}.parquet"), root / HALF_ARM,
            {"role": "data_dose", "dose": DATA_DOSE_FRACTION}),
    ]
    clean_words = sum(len(t.split()) for _, t in clean)
    for dose in doses:
        planted = junk_pages(clean, dose, junk)
        name = f"junk-{dose:g}"
        junk_words = sum(len(t.split()) for _, t in planted)
        info = {"role": "dose", "dose": dose, "junk_pages": len(planted), "junk_word_fraction": junk_words / (junk_words + clean_words)}
        arms.append(Arm(name, write_corpus(plant(clean, planted, seed=JUNK_SEED), corpora / f"{name}.parquet"), root / name, info))
    return arms


def check_doses(doses: Sequence[float]) -> list[float]:
    bad = [d for d in doses if not 0 < d < 1]
    if bad or not doses:
        raise CalibrationError(f"--doses must be fractions in (0, 1), got {list(doses)}")
    if len(set(doses)) != len(doses):
        raise CalibrationError(f"--doses repeat: {list(doses)}")
    return sorted(doses)


def calibration_from_results(results: dict[str, Any], arms: Sequence[Arm]) -> dict[str, Any]:
    """calibration.json from the arms' comparisons with the clean arm."""
    comparisons = results["comparisons"]

    def rows(name: str, dose: float) -> list[dict[str, Any]]:
        return [{"dose": dose, "metric": metric, **{k: c[k] for k in COMPARISON_FIELDS}, "n": c["n"], "diffs": c["diffs"]}
                for metric, c in comparisons[name].items()]

    doses = [a for a in arms if a.info.get("role") == "dose"]
    dose_rows = [{**row, "junk_pages": a.info["junk_pages"], "junk_word_fraction": a.info["junk_word_fraction"]}
                 for a in doses for row in rows(a.name, a.info["dose"])]
    by_metric: dict[str, float | None] = {}
    for row in dose_rows:
        by_metric.setdefault(row["metric"], None)
        if row["verdict"] == WORSE and (by_metric[row["metric"]] is None or row["dose"] < by_metric[row["metric"]]):
            by_metric[row["metric"]] = row["dose"]
    aa = rows(AA_ARM, 0.0)
    return {
        "primary_metric": PRIMARY_METRIC,
        "alpha": results["alpha"],
        "seeds": results["seeds"],
        "budget_tokens": results["budget_tokens"],
        "model": results["model"],
        "doses_tried": [a.info["dose"] for a in doses],
        "doses": dose_rows,
        "aa": aa,
        "aa_passed": all(r["verdict"] == INCONCLUSIVE for r in aa),
        "data_dose": rows(HALF_ARM, DATA_DOSE_FRACTION),
        "smallest_dose_detected": by_metric.get(PRIMARY_METRIC),
        "smallest_dose_detected_by_metric": by_metric,
        "arms": {name: {k: row[k] for k in ("documents", "unique_tokens", "epochs")} | {"role": row.get("role")}
                 for name, row in results["recipes"].items()},
    }


def calibrate_on_documents(
    clean_documents: str | Sequence[Page],
    out: Path,
    tokenizer_path: Path,
    instrument: Instrument,
    doses: Sequence[float],
    progress: bool = True,
    junk: Sequence[Page] | None = None,
    anneal: Any = None,
) -> dict[str, Any]:
    """Run the checks on a clean corpus (Parquet path or pages) and write calibration.json;
    with `anneal` (an AnnealSpec), every arm continues the shared base models."""
    doses = check_doses(doses)
    clean = read_corpus(clean_documents) if isinstance(clean_documents, str) else list(clean_documents)
    if len(clean) < 2:
        raise CalibrationError("calibration needs at least two clean documents")
    arms = build_arms(clean, doses, junk, out / "calibrate")
    try:
        if anneal is not None:
            from winnow.ablation.anneal import prepare_anneal

            arms, instrument = prepare_anneal(arms, anneal, out / "anneal", out / "calibrate" / "anneal", tokenizer_path, instrument, progress)
        results = run_arms(arms, tokenizer_path, instrument, progress)
        results["mode"] = "anneal" if anneal is not None else "scratch"
    except ArmError as exc:
        raise CalibrationError(str(exc)) from exc
    calibration = calibration_from_results(results, arms)
    calibration["mode"] = results["mode"]
    calibration["results"] = results
    (out / "ablate").mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "ablate" / "calibration.json", calibration)
    say(progress, f"== calibration: smallest dose detected {calibration['smallest_dose_detected']}, A/A {'inconclusive' if calibration['aa_passed'] else 'NOT inconclusive'}")
    return calibration


def run_calibration(
    clean: Sequence[str],
    output: str,
    instrument: Instrument,
    doses: Sequence[float] = DEFAULT_DOSES,
    junk: Sequence[str] | None = None,
    vocab_size: int = 4096,
    tokenizer: str | None = None,
    tier0_recipes: Sequence[str] = (),
    progress: bool = True,
    anneal: Any = None,
) -> dict[str, Any]:
    """`winnow ablate calibrate`: read the sources, run the checks, write the report.

    The tokenizer is trained on the clean pages only (or given), so the junk
    cannot shape the vocabulary every arm is measured with."""
    from winnow.ablate import shared_tokenizer, write_results

    doses = check_doses(doses)
    if not Path(instrument.score.eval_text).exists():
        raise CalibrationError(f"--eval-text {instrument.score.eval_text}: no such file or directory")
    out = Path(output)
    clean_pages = read_pages(clean, "clean")
    junk_given = read_pages(junk, "junk") if junk else None
    say(progress, f"== calibration: {len(clean_pages):,} clean pages, doses {', '.join(f'{d:g}' for d in doses)}, "
        + ("the given junk" if junk_given else "Winnow's generated junk"))
    if anneal is not None:
        from winnow.ablate import base_tokenizer

        tokenizer_path = base_tokenizer(out, anneal, vocab_size, tokenizer, progress)
    else:
        clean_path = write_corpus(clean_pages, out / "calibrate" / "corpora" / f"{CLEAN_ARM}.parquet")
        tokenizer_path = shared_tokenizer(out / "calibrate", [clean_path], vocab_size, tokenizer, progress, [pages_digest(clean_pages)])
    calibration = calibrate_on_documents(clean_pages, out, tokenizer_path, instrument, doses, progress, junk_given, anneal=anneal)
    if tier0_recipes:
        from winnow.ablation.tier0 import tier0_report

        planted = junk_pages(clean_pages, max(doses), junk_given)
        calibration["tier0"] = tier0_report(tier0_recipes, clean_pages, planted)
        atomic_write_json(out / "ablate" / "calibration.json", calibration)
    write_results(out, calibration["results"])
    return calibration
