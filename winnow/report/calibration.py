"""Report parts of the ablation instrument: the calibration section (dose-response
curve, A/A and data-dose checks, tier 0) and the ablation's paired comparisons."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from winnow.report.inputs import ReportInputError, read_json_object

ABLATE_CALIBRATION = "ablate/calibration.json"
_FIELDS = ("dose", "metric", "mean_diff", "ci95", "p_value", "verdict")


def build_calibration(run_dir: Path) -> dict[str, Any]:
    data = read_json_object(run_dir, ABLATE_CALIBRATION)
    where = run_dir / ABLATE_CALIBRATION
    for key in ("doses", "aa", "data_dose"):
        rows = data.get(key)
        if not isinstance(rows, list) or not all(isinstance(r, dict) and all(f in r for f in _FIELDS) for r in rows):
            raise ReportInputError(f"{where}: '{key}' must be a list of objects with {', '.join(_FIELDS)}")
    keep = ("primary_metric", "alpha", "seeds", "budget_tokens", "model", "doses", "aa", "aa_passed", "data_dose",
            "smallest_dose_detected", "smallest_dose_detected_by_metric", "doses_tried", "arms", "tier0")
    return {k: data.get(k) for k in keep}


def _num(value: Any, spec: str) -> str:
    return "n/a" if not isinstance(value, (int, float)) else format(value, spec)


def _rows(rows: list[dict[str, Any]], label) -> list[tuple[Any, ...]]:
    return [(label(r), r["metric"], _num(r["mean_diff"], "+.4f"), f"({_num(r['ci95'][0], '+.4f')}, {_num(r['ci95'][1], '+.4f')})",
             _num(r["p_value"], ".3g"), _num(r.get("mde"), ".4f"), r["verdict"]) for r in rows]


def html_calibration(d: dict[str, Any]) -> str:
    from winnow.report.render import esc, html_img, html_table

    smallest = d.get("smallest_dose_detected")
    parts = [
        f"<p>{esc(len(d.get('seeds') or []))} paired seeds, {esc(_num(d.get('budget_tokens'), ',d'))} tokens per model, "
        f"significance level {esc(d.get('alpha'))}. Smallest junk dose detected on {esc(d.get('primary_metric'))}: "
        f"<strong>{esc('none of ' + str(d.get('doses_tried')) if smallest is None else format(smallest, 'g'))}</strong>. "
        f"A/A check: <strong>{'inconclusive (as it must be)' if d.get('aa_passed') else 'NOT inconclusive: verdicts are suspect'}</strong>.</p>"
    ]
    headers = ("check", "metric", "mean diff vs clean", "95% CI", "p", "MDE", "verdict")
    rows = _rows(d["doses"], lambda r: f"junk {r['dose']:g}") + _rows(d["aa"], lambda r: "A/A") + _rows(d["data_dose"], lambda r: "half the clean pages")
    parts.append(html_table(headers, rows))
    if d["doses"]:
        parts.append(html_img(chart_dose_response(d["doses"]), "dose-response: mean paired difference against the clean corpus with 95% intervals"))
    parts.append(html_tier0(d.get("tier0")))
    return "".join(parts)


def html_tier0(tier0: dict[str, Any] | None) -> str:
    from winnow.report.render import esc, html_table

    if not tier0:
        return ""
    rows = []
    for recipe, steps in tier0.get("recipes", {}).items():
        for step, f in steps.items():
            rows.append((recipe, step, f"{f['junk_removed']}/{f['junk']}", f"{f['clean_removed']}/{f['clean']}",
                         f"{_num(f['precision'], '.3f')} ({_num(f['precision_ci95'][0], '.3f')}, {_num(f['precision_ci95'][1], '.3f')})",
                         f"{_num(f['recall'], '.3f')} ({_num(f['recall_ci95'][0], '.3f')}, {_num(f['recall_ci95'][1], '.3f')})", f["errors"]))
    head = f"<h3>Tier 0: what each filter removes ({esc(tier0.get('junk'))} planted junk, {esc(tier0.get('clean'))} clean pages, no training)</h3>"
    return head + html_table(("recipe", "filter", "junk removed", "clean removed", "precision (95% CI)", "recall (95% CI)", "errors"), rows)


def chart_dose_response(rows: list[dict[str, Any]]) -> bytes:
    from winnow.report.charts import _figure, _png

    metrics = sorted({r["metric"] for r in rows})
    fig = _figure(3.2 * len(metrics), 2.8)
    for i, metric in enumerate(metrics):
        ax = fig.add_subplot(1, len(metrics), i + 1)
        mine = sorted((r for r in rows if r["metric"] == metric and r["mean_diff"] is not None), key=lambda r: r["dose"])
        xs = [r["dose"] for r in mine]
        ys = [r["mean_diff"] for r in mine]
        low = [y - (r["ci95"][0] if r["ci95"][0] is not None else y) for y, r in zip(ys, mine)]
        high = [(r["ci95"][1] if r["ci95"][1] is not None else y) - y for y, r in zip(ys, mine)]
        ax.errorbar(xs, ys, yerr=[low, high], fmt="o-", color="#2f6690", capsize=4, markersize=5)
        ax.axhline(0.0, color="grey", linewidth=0.8)
        for r in mine:
            if r["verdict"] != "inconclusive":
                ax.annotate(r["verdict"], (r["dose"], r["mean_diff"]), fontsize=6, xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel("junk dose (fraction of pages)", fontsize=7)
        ax.set_title(f"{metric} vs clean", fontsize=8)
    return _png(fig)


def html_comparisons(d: dict[str, Any]) -> str:
    """The ablation's paired comparisons with the baseline, one row per recipe and metric."""
    from winnow.report.render import esc, html_table

    comparisons = d.get("comparisons") or {}
    if not comparisons:
        return ""
    data = [(name, r.get("tokens"), _num(r.get("epochs"), ".2f")) for name, r in d["recipes"].items()]
    parts = [html_table(("recipe", "unique training tokens", "epochs at this budget"), data)]
    rows = []
    for name, metrics in comparisons.items():
        for metric, c in metrics.items():
            rows.append((name, metric, _num(c.get("mean_diff"), "+.4f"), f"({_num(c['ci95'][0], '+.4f')}, {_num(c['ci95'][1], '+.4f')})",
                         _num(c.get("p_value"), ".3g"), _num(c.get("mde"), ".4f"), c.get("verdict"), c.get("note") or ""))
    head = f"<h3>Against the baseline {esc(d.get('baseline'))} (paired seeds, significance level {esc(d.get('alpha'))})</h3>"
    return "".join(parts) + head + html_table(("recipe", "metric", "mean diff", "95% CI", "p", "MDE", "verdict", "note"), rows)
