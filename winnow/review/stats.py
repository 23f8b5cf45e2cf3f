"""What the human labels say about the filters, and what the votes say about two models.

Agreement per stage and reason:
- *precision of its rejections*: of the documents it rejected that humans
  labelled good or bad, the share labelled bad (a stratum is sampled
  uniformly, so this needs no weighting);
- *share of good documents it removed*: the estimated good documents in its
  stratum over the estimated good documents in every labelled stratum, each
  stratum's labelled documents weighted by (records in stratum / labelled in
  stratum), since the sample over-draws small strata on purpose. Its
  interval is a Wilson interval at the Kish effective sample size of the
  good labels, an approximation that says how much the labels can tell.

A document labelled by several reviewers counts once, by majority of good
and bad (a tie, or only skips, leaves it out). Threshold suggestions are the
ROC point that maximises Youden's J (true-positive minus false-positive
rate, good documents as positives), with the same weights. Cohen's kappa is
computed per pair of reviewers on the documents both labelled.
"""
from __future__ import annotations

import html
import math
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from winnow.review.labels import LABELS, read_labels, read_votes, review_dir
from winnow.review.source import KEPT, OutputIndex, load_index, table_files

Z95 = 1.959963984540054  # two-sided 95% normal quantile
MIN_PER_CLASS = 3  # good and bad labels a signal needs before a threshold is suggested


def wilson(successes: float, n: float, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval for a proportion; None without observations.

    Written out rather than taken from a library because the weighted
    estimates here have non-integer counts, which scipy's binomtest refuses.
    """
    if n <= 0:
        return None
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def consensus(labels: Any) -> dict[str, str]:
    """{id: good|bad} by majority of good and bad labels over reviewers."""
    votes: dict[str, list[int]] = {}
    for doc_id, label in zip(labels.column("id").to_pylist(), labels.column("label").to_pylist()):
        tally = votes.setdefault(doc_id, [0, 0])
        if label == "good":
            tally[0] += 1
        elif label == "bad":
            tally[1] += 1
    return {d: ("good" if g > b else "bad") for d, (g, b) in votes.items() if g != b}


def _rule_weights(index: OutputIndex, decided: Mapping[str, str]) -> tuple[dict[str, float], dict[str, list[int]]]:
    """(weight per rule, [good, bad] per rule) over decided documents present in the output."""
    population = index.count_by_rule()
    tallies: dict[str, list[int]] = {}
    for doc_id, label in decided.items():
        record = index.by_id.get(doc_id)
        if record is not None:
            tallies.setdefault(record.rule, [0, 0])[0 if label == "good" else 1] += 1
    weights = {rule: population[rule] / sum(t) for rule, t in tallies.items()}
    return weights, tallies


def rule_agreement(index: OutputIndex, decided: Mapping[str, str]) -> dict[str, Any]:
    """One row per rule (kept, and every stage/reason), in output order."""
    population = index.count_by_rule()
    weights, tallies = _rule_weights(index, decided)
    est_good = {r: weights[r] * t[0] for r, t in tallies.items()}
    total_good = sum(est_good.values())
    good_weights = [weights[r] for r, t in tallies.items() for _ in range(t[0])]
    n_eff = (sum(good_weights) ** 2 / sum(w * w for w in good_weights)) if good_weights else 0.0
    kept_known = KEPT in tallies
    first: dict[str, Any] = {}
    for r in index.by_id.values():
        first.setdefault(r.rule, r)
    rows = []
    for rule in population:
        good, bad = tallies.get(rule, [0, 0])
        record = first[rule]
        row: dict[str, Any] = {
            "rule": rule, "stage": record.stage, "reason": record.reason, "records": population[rule],
            "labelled": good + bad, "good": good, "bad": bad,
        }
        if rule == KEPT:
            row["good_share"] = good / (good + bad) if good + bad else None
            row["good_share_ci"] = wilson(good, good + bad)
        else:
            row["precision"] = bad / (good + bad) if good + bad else None
            row["precision_ci"] = wilson(bad, good + bad)
            share = est_good.get(rule, 0.0) / total_good if total_good and kept_known and good + bad else None
            row["good_removed_share"] = share
            row["good_removed_ci"] = wilson(share * n_eff, n_eff) if share is not None else None
        rows.append(row)
    unlabelled = sum(n for rule, n in population.items() if rule not in tallies)
    return {
        "rules": rows,
        "unlabelled_records": unlabelled,
        "kept_labelled": kept_known,
        "good_effective_n": n_eff,
    }


def thresholds(index: OutputIndex, decided: Mapping[str, str]) -> list[dict[str, Any]]:
    """Per signal, the ROC point with the largest Youden's J; signals without enough labels are listed as such."""
    import numpy as np
    from sklearn.metrics import roc_auc_score, roc_curve

    weights, _ = _rule_weights(index, decided)
    out = []
    for signal in (*index.signals, *index.scores):
        xs, ys, ws = [], [], []
        for doc_id, label in decided.items():
            record = index.by_id.get(doc_id)
            value = None if record is None else (record.signals.get(signal, record.scores.get(signal)))
            if value is None or (isinstance(value, float) and not math.isfinite(value)):
                continue
            xs.append(float(value))
            ys.append(1 if label == "good" else 0)
            ws.append(weights[record.rule])
        good, bad = sum(ys), len(ys) - sum(ys)
        row: dict[str, Any] = {"signal": signal, "good": good, "bad": bad}
        if good < MIN_PER_CLASS or bad < MIN_PER_CLASS or len(set(xs)) < 2:
            row["note"] = f"needs {MIN_PER_CLASS}+ good and {MIN_PER_CLASS}+ bad labelled documents with distinct values"
            out.append(row)
            continue
        x, y, w = np.array(xs), np.array(ys), np.array(ws)
        auc = float(roc_auc_score(y, x, sample_weight=w))
        sign = 1.0 if auc >= 0.5 else -1.0  # a signal where lower is better is read negated
        fpr, tpr, thr = roc_curve(y, sign * x, sample_weight=w)
        best = int(np.argmax(tpr[1:] - fpr[1:])) + 1  # index 0 is the "keep nothing" point
        row.update({
            "keep": ">=" if sign > 0 else "<=",
            "threshold": float(sign * thr[best]),
            "good_kept": float(tpr[best]),
            "bad_kept": float(fpr[best]),
            "auc": max(auc, 1 - auc),
        })
        out.append(row)
    return out


def reviewer_kappa(labels: Any) -> list[dict[str, Any]]:
    """Cohen's kappa for each pair of reviewers on the documents both labelled (good, bad and skip)."""
    import numpy as np
    from sklearn.metrics import cohen_kappa_score

    by_reviewer: dict[str, dict[str, str]] = {}
    for doc_id, label, reviewer in zip(*(labels.column(c).to_pylist() for c in ("id", "label", "reviewer"))):
        by_reviewer.setdefault(reviewer, {})[doc_id] = label
    names = sorted(by_reviewer)
    out = []
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            common = sorted(set(by_reviewer[first]) & set(by_reviewer[second]))
            if not common:
                continue
            a = [by_reviewer[first][d] for d in common]
            b = [by_reviewer[second][d] for d in common]
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                kappa = float(cohen_kappa_score(a, b, labels=list(LABELS)))
            agreement = sum(x == y for x, y in zip(a, b)) / len(common)
            # kappa is undefined when both used one and the same label throughout
            out.append({
                "reviewers": [first, second], "documents": len(common),
                "kappa": kappa if math.isfinite(kappa) else None, "agreement": agreement,
            })
    return out


def vote_summary(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Per pair of runs compared, the votes and the first run's win rate over decisive votes."""
    votes = read_votes(run_dir)
    pairs: dict[tuple[str, str], list[int]] = {}
    for a, b, vote in zip(*(votes.column(c).to_pylist() for c in ("run_a", "run_b", "vote"))):
        tally = pairs.setdefault((a, b), [0, 0, 0])
        tally[("a", "b", "tie").index(vote)] += 1
    out = []
    for (a, b), (wa, wb, ties) in sorted(pairs.items()):
        decisive = wa + wb
        out.append({
            "run_a": a, "run_b": b, "name_a": Path(a).name, "name_b": Path(b).name,
            "votes": wa + wb + ties, "a_wins": wa, "b_wins": wb, "ties": ties,
            "a_win_rate": wa / decisive if decisive else None, "a_win_rate_ci": wilson(wa, decisive),
        })
    return out


def review_summary(out_dir: str | os.PathLike) -> dict[str, Any] | None:
    """JSON-able summary of the labels and votes under `out_dir/review/`; None when there are none."""
    out_dir = Path(out_dir)
    if not review_dir(out_dir).is_dir():
        return None
    summary: dict[str, Any] = {"directory": str(out_dir)}
    labels = read_labels(out_dir)
    if labels.num_rows and table_files(out_dir):
        index = load_index(out_dir)
        decided = consensus(labels)
        counts = {label: labels.column("label").to_pylist().count(label) for label in LABELS}
        summary["labels"] = {
            "total": labels.num_rows, "by_label": counts,
            "reviewers": sorted(set(labels.column("reviewer").to_pylist())),
            "documents_decided": len(decided),
            "unknown_ids": sum(1 for d in set(labels.column("id").to_pylist()) if d not in index.by_id),
        }
        summary["agreement"] = rule_agreement(index, decided)
        summary["thresholds"] = thresholds(index, decided)
        summary["kappa"] = reviewer_kappa(labels)
    comparisons = vote_summary(out_dir)
    if comparisons:
        summary["comparisons"] = comparisons
    return summary if len(summary) > 1 else None


# ---- rendering ---------------------------------------------------------------------------------------------

def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _ci(interval: tuple[float, float] | list[float] | None) -> str:
    return "" if not interval else f"[{100 * interval[0]:.1f}, {100 * interval[1]:.1f}]"


def summary_rows(summary: Mapping[str, Any]) -> dict[str, tuple[list[str], list[list[str]]]]:
    """The summary as plain tables: {title: (header, rows)}, shared by the terminal and the HTML."""
    tables: dict[str, tuple[list[str], list[list[str]]]] = {}
    if "agreement" in summary:
        rows = []
        for r in summary["agreement"]["rules"]:
            if r["rule"] == KEPT:
                rows.append([KEPT, "", str(r["records"]), str(r["labelled"]), str(r["good"]), str(r["bad"]),
                             f"good {_pct(r['good_share'])} {_ci(r['good_share_ci'])}", ""])
            else:
                rows.append([str(r["stage"]), str(r["reason"]), str(r["records"]), str(r["labelled"]),
                             str(r["good"]), str(r["bad"]), f"{_pct(r['precision'])} {_ci(r['precision_ci'])}",
                             f"{_pct(r['good_removed_share'])} {_ci(r['good_removed_ci'])}"])
        tables["Filter agreement (95% Wilson intervals)"] = (
            ["stage", "reason", "records", "labelled", "good", "bad", "precision of rejections", "good docs removed"],
            rows,
        )
    if summary.get("thresholds"):
        rows = []
        for t in summary["thresholds"]:
            if "threshold" in t:
                rows.append([t["signal"], f"keep {t['keep']} {t['threshold']:.4g}", _pct(t["good_kept"]),
                             _pct(t["bad_kept"]), f"{t['auc']:.3f}", f"{t['good']}/{t['bad']}"])
            else:
                rows.append([t["signal"], t["note"], "", "", "", f"{t['good']}/{t['bad']}"])
        tables["Threshold suggestions (ROC point, max Youden J)"] = (
            ["signal", "suggestion", "good kept", "bad kept", "AUC", "good/bad"], rows
        )
    if summary.get("kappa"):
        rows = [[" & ".join(k["reviewers"]), str(k["documents"]),
                 "undefined" if k["kappa"] is None else f"{k['kappa']:.3f}", _pct(k["agreement"])]
                for k in summary["kappa"]]
        tables["Agreement between reviewers"] = (["reviewers", "documents", "Cohen's kappa", "raw agreement"], rows)
    if summary.get("comparisons"):
        rows = [[c["name_a"], c["name_b"], str(c["votes"]), str(c["a_wins"]), str(c["b_wins"]), str(c["ties"]),
                 f"{_pct(c['a_win_rate'])} {_ci(c['a_win_rate_ci'])}"] for c in summary["comparisons"]]
        tables["Blind model comparison (A win rate over decisive votes, 95% Wilson)"] = (
            ["run A", "run B", "votes", "A wins", "B wins", "ties", "A win rate"], rows
        )
    return tables


def render_html(summary: Mapping[str, Any] | None) -> str:
    """An HTML fragment (tables) for `winnow report`; every string is escaped."""
    if not summary:
        return "<p>No human review labels or votes.</p>"
    esc = html.escape
    parts = []
    labels = summary.get("labels")
    if labels:
        parts.append(
            f"<p>{labels['total']} labels by {len(labels['reviewers'])} reviewer(s) "
            f"({esc(', '.join(labels['reviewers']))}); {labels['documents_decided']} documents decided.</p>"
        )
    for title, (header, rows) in summary_rows(summary).items():
        parts.append(f"<h4>{esc(title)}</h4><table><thead><tr>")
        parts.append("".join(f"<th>{esc(h)}</th>" for h in header) + "</tr></thead><tbody>")
        for row in rows:
            parts.append("<tr>" + "".join(f"<td>{esc(cell)}</td>" for cell in row) + "</tr>")
        parts.append("</tbody></table>")
    return "\n".join(parts)
