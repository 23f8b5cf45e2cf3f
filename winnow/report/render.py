"""HTML for the run report: page style, small helpers and one renderer per section.

A renderer takes a section's data dict (what its builder returned) and returns
an HTML fragment. Document text was written by strangers: every string goes
through `html.escape` (`_e`). Charts are PNG data URIs from
`winnow.report.charts`, so the page needs no external files.
"""
from __future__ import annotations

import base64
import html
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from winnow.core.version import __version__
from winnow.report.charts import (
    chart_ablation,
    chart_bars,
    chart_cluster_sizes,
    chart_eval_curves,
    chart_funnel,
    chart_loss,
    chart_signal,
)
from winnow.report.inputs import TOKENS_MANIFEST, TRAIN_CONFIG
from winnow.report.sections import LM_KEYS, SAMPLE_CHARS, STATUS_ERROR, STATUS_OK, Section
from winnow.report.signals import PERCENTILES

MAX_LANGUAGES_CHARTED = 20
MAX_REASONS_PER_STAGE = 8

Renderer = Callable[[dict[str, Any]], str]


_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1100px;padding:1rem 1.5rem;color:#1d2731;line-height:1.4}
h1{margin-bottom:.2rem}h2{border-bottom:2px solid #2f6690;padding-bottom:.2rem;margin-top:2rem}
nav ul{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.4rem 1rem;font-size:.9rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #c9d3dc;padding:.25rem .6rem;text-align:left;vertical-align:top}
th{background:#eef3f7}td.num{text-align:right;font-variant-numeric:tabular-nums}
.status{display:inline-block;padding:.05rem .5rem;border-radius:.6rem;font-size:.8rem;background:#e4e8ec}
.status.ok,.status.ran{background:#d6ecd2}.status.error,.status.failed{background:#f6d3d6}
.notrun{color:#5c6b77;font-style:italic}.error{color:#a3222f}
.grid{display:flex;flex-wrap:wrap;gap:.5rem}img{max-width:100%;height:auto}
.doc{border-left:3px solid #c9d3dc;margin:.5rem 0;padding:.2rem .7rem;background:#f7f9fa}
.doc p{white-space:pre-wrap;margin:.2rem 0;font-size:.85rem}.meta{font-size:.8rem;color:#5c6b77;word-break:break-all}
pre{background:#f7f9fa;padding:.6rem;overflow-x:auto;font-size:.8rem}
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value != 0 and abs(value) < 1e-3:
            return f"{value:.2e}"
        return f"{value:,.0f}" if abs(value) >= 1e4 else f"{value:.4g}"
    return str(value)


def html_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for value in row:
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            cells.append(f'<td class="num">{esc(fmt(value))}</td>' if numeric else f"<td>{esc(fmt(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def html_img(png: bytes, alt: str) -> str:
    return f'<img src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}" alt="{esc(alt)}">'


def html_overview(d: dict[str, Any]) -> str:
    parts = [f"<p>Recipe: <strong>{esc(fmt(d.get('recipe')))}</strong>; total stage time {esc(fmt(d['total_wall_s']))} s "
             f"(from {esc(d['source'])}).</p>"]
    rows = []
    for s in d["stages"]:
        status = f'<span class="status {esc(s["status"])}">{esc(s["status"])}</span>'
        error = f' <span class="error">{esc(s["error"])}</span>' if s.get("error") else ""
        rows.append(f'<tr><td>{esc(s["stage"])}</td><td>{status}{error}</td><td class="num">{esc(fmt(s["wall_s"]))}</td></tr>')
    parts.append("<table><thead><tr><th>stage</th><th>status</th><th>wall (s)</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")
    return "".join(parts)


def html_curation(d: dict[str, Any]) -> str:
    verdict = {True: "holds", False: f"FAILS ({d.get('unaccounted')} unaccounted)", None: "not recorded"}[d.get("accounting_ok")]
    parts = [
        f"<p>Recipe {esc(fmt(d.get('recipe')))}: {esc(fmt(d['records_in']))} records in, {esc(fmt(d['kept']))} kept, "
        f"{esc(fmt(d['rejected_total']))} rejected, {esc(fmt(d['errors']))} errors; accounting {esc(verdict)}"
        + (f"; {esc(fmt(d['wall_time_s']))} s." if d.get("wall_time_s") is not None else ".") + "</p>",
    ]
    if d["funnel"]:
        parts.append(html_img(chart_funnel(d["funnel"]), "documents in and out per curation stage"))
        parts.append(html_table(("stage", "in", "rejected", "errors", "out"),
                            [(f["stage"], f["in"], f["rejected"], f["errors"], f["out"]) for f in d["funnel"]]))
    rows = []
    for stage in (f["stage"] for f in d["funnel"]):
        for reason, count in d["reasons"].get(stage, [])[:MAX_REASONS_PER_STAGE]:
            rows.append((stage, reason, count))
    if rows:
        parts.append(f"<h3>Top rejection reasons per stage</h3>{html_table(('stage', 'reason', 'documents'), rows)}")
    errors = [(stage, kind, n) for stage, by_type in d["errors_by_stage"].items() for kind, n in by_type.items()]
    if errors:
        parts.append(f"<h3>Errors per stage</h3>{html_table(('stage', 'error type', 'records'), errors)}")
    return "".join(parts)


def html_languages(d: dict[str, Any]) -> str:
    if not d["languages"]:
        return '<p class="notrun">No kept documents.</p>'
    top = list(d["languages"].items())[:MAX_LANGUAGES_CHARTED]
    chart = html_img(chart_bars([k for k, _ in top], [v for _, v in top], "Kept documents per language", "documents"),
                 "kept documents per language")
    table = html_table(("language", "documents", "share"),
                   [(k, v, f"{100 * d['shares'][k]:.1f}%") for k, v in d["languages"].items()])
    return chart + table


def html_signals(d: dict[str, Any]) -> str:
    files, read = d["files"], d["files_read"]
    parts = [f"<p>{d['signals_shown']} of {d['signals_total']} numeric signal columns "
             f"({d['signals_with_values']} have values; varying ones first, one step at a time), from "
             f"{read['kept']} of {files['kept']} kept and {read['rejected']} of {files['rejected']} rejected Parquet file(s). "
             "Histograms show the fraction of each group per bin; values above the 99th percentile fall in the last bin. "
             "Rejected documents only have the signals computed before the step that rejected them.</p>"]
    if d["signals_left_out"]:
        parts.append(f"<details><summary>{len(d['signals_left_out'])} signal(s) not charted</summary>"
                     f"<p>{esc(', '.join(d['signals_left_out']))}</p></details>")
    if not d["signals"]:
        return "".join(parts) + '<p class="notrun">No document has a signal value yet.</p>'
    charts = [html_img(chart_signal(name, s["histogram"]), f"histogram of {name}") for name, s in d["signals"].items()]
    parts.append('<div class="grid">' + "".join(charts) + "</div>")
    rows = []
    for name, s in d["signals"].items():
        for group in ("kept", "rejected"):
            g = s[group]
            rows.append((name, group, g["n"], *(g.get(f"p{p}") for p in PERCENTILES)))
    parts.append(html_table(("signal", "group", "n", *(f"p{p}" for p in PERCENTILES)), rows))
    return "".join(parts)


def html_dedup(d: dict[str, Any]) -> str:
    rows = [(k.replace("_", " "), d[k]) for k in ("documents_in", "kept", "exact_duplicates", "near_duplicates", "clusters", "largest_cluster") if k in d]
    rows.append(("removed", f"{100 * d['removed_fraction']:.2f}%"))
    parts = [html_table(("", "value"), rows)]
    if d["cluster_size_histogram"]:
        parts.append(html_img(chart_cluster_sizes(d["cluster_size_histogram"]), "histogram of duplicate cluster sizes"))
    return "".join(parts)


def html_tokens(d: dict[str, Any]) -> str:
    parts = []
    tokenizer = d.get("tokenizer") or {}
    if tokenizer:
        parts.append(f"<p>Vocabulary {esc(fmt(tokenizer.get('vocab_size')))}; held-out bytes per token "
                     f"{esc(fmt(tokenizer.get('heldout_bytes_per_token')))}.</p>")
    if "splits" in d:
        parts.append(html_table(("split", "tokens", "documents", "UTF-8 bytes", "bytes/token", "shards"),
                            [(n, s["tokens"], s["documents"], s["utf8_bytes"], s["bytes_per_token"], s["shards"]) for n, s in d["splits"].items()]))
    else:
        parts.append(f'<p class="notrun">Token shards: not run ({esc(TOKENS_MANIFEST)} missing).</p>')
    return "".join(parts)


def html_training(d: dict[str, Any]) -> str:
    parts = []
    if d["_train_curve"] or d["_val_curve"]:
        parts.append(html_img(chart_loss(d["_train_curve"], d["_val_curve"]), "training and validation loss by step"))
    if d.get("_eval_curves"):
        parts.append(html_img(chart_eval_curves(d["_eval_curves"], d.get("_eval_chance", {})),
                              "task accuracies and bits per byte at each continuous evaluation"))
    rows = []
    if "final_train" in d:
        rows += [(f"final train {k.replace('_', ' ')}", v) for k, v in d["final_train"].items()]
    if "final_val" in d:
        rows += [(f"final {k.replace('_', ' ')}", v) for k, v in d["final_val"].items()]
    if "best_val" in d:
        rows.append(("best val loss (step)", f"{fmt(d['best_val']['val_loss'])} ({fmt(d['best_val']['step'])})"))
    parts.append(html_table(("", "value"), rows) if rows else '<p class="notrun">No metric rows yet.</p>')
    if "_config_text" in d:
        parts.append(f"<details><summary>{esc(TRAIN_CONFIG)}</summary><pre>{esc(d['_config_text'])}</pre></details>")
    return "".join(parts)


def html_evaluation(d: dict[str, Any]) -> str:
    parts = []
    if d["language_modelling"]:
        parts.append(html_table(("data", "loss", "perplexity", "bits/byte", "tokens", "bytes"),
                            [(r.get("source", k), *(r.get(c) for c in LM_KEYS)) for k, r in d["language_modelling"].items()]))
    if d["tasks"]:
        parts.append("<h3>Tasks</h3>" + html_table(("task", "acc", "acc_norm", "acc_bytes", "chance", "examples"),
                                                [(n, _acc(t, "acc"), _acc(t, "acc_norm"), _acc(t, "acc_bytes"), t.get("chance"), t["n"])
                                                 for n, t in d["tasks"].items()]))
        parts.append('<p class="note">Accuracies as lm-evaluation-harness defines them, ± its standard error; '
                     "chance is the mean of 1 / choices (docs/evaluation.md).</p>")
    return "".join(parts)


def _acc(task: dict[str, Any], metric: str) -> str:
    """"0.3047 ± 0.0407" as lm-eval prints it; the bare value without a standard error."""
    value, stderr = task.get(metric), task.get(f"{metric}_stderr")
    if isinstance(stderr, (int, float)) and isinstance(value, (int, float)) and math.isfinite(stderr):
        return f"{value:.4f} ± {stderr:.4f}"
    return fmt(value)


def html_generations(d: dict[str, Any]) -> str:
    if not d["generations"]:
        return '<p class="notrun">No generations.</p>'
    return "".join(f'<div class="doc"><p><strong>{esc(g["prompt"])}</strong>{esc(g["completion"])}</p></div>' for g in d["generations"])


def html_ablation(d: dict[str, Any]) -> str:
    parts = [f"<p>Token budget {esc(fmt(d.get('budget_tokens')))}; evaluated on {esc(fmt(d.get('eval_text')))}.</p>"]
    tasks = sorted({t for r in d["recipes"].values() for t in r["task_acc_mean"]})
    rows = [(name, len(r["val_bpb"]), r["mean_bpb"], r["std_bpb"], r["documents"], r["tokens"], *(r["task_acc_mean"].get(t) for t in tasks))
            for name, r in d["recipes"].items()]
    parts.append(html_table(("recipe", "seeds", "mean bpb", "std bpb", "documents", "tokens", *(f"{t} acc" for t in tasks)), rows))
    if any(r.get("mean_bpb") is not None for r in d["recipes"].values()):
        parts.append(html_img(chart_ablation(d["recipes"]), "validation bits per byte per recipe with error bars across seeds"))
    from winnow.report.calibration import html_comparisons

    parts.append(html_comparisons(d))
    return "".join(parts)


def html_doc(meta: Sequence[tuple[str, Any]], text: str | None) -> str:
    head = " · ".join(f"{esc(k)}: {esc(v)}" for k, v in meta if v not in (None, ""))
    body = esc(text) if text is not None else '<span class="notrun">(no text)</span>'
    return f'<div class="doc"><div class="meta">{head}</div><p>{body}</p></div>'


def html_samples(d: dict[str, Any]) -> str:
    parts = [f"<h3>Kept (first {SAMPLE_CHARS} characters)</h3>"]
    parts += [html_doc((("id", r.get("id")), ("language", r.get("language")), ("url", r.get("url"))), r.get("text")) for r in d["kept"]]
    parts.append("<h3>Rejected (one per stage and reason)</h3>")
    parts += [html_doc((("stage", r.get("stage")), ("reason", r.get("reason")), ("detail", r.get("detail")), ("url", r.get("url"))), r.get("text"))
              for r in d["rejected"]]
    return "".join(parts)


def _html_section(section: Section, render: Renderer) -> str:
    status = f'<span class="status {esc(section.status.replace(" ", "-"))}">{esc(section.status)}</span>'
    if section.status == STATUS_OK:
        body = render(section.data)
    elif section.status == STATUS_ERROR:
        body = f'<p class="error">Error: {esc(section.error)}</p>'
    else:
        body = '<p class="notrun">not run' + (f" ({esc(section.note)})" if section.note else "") + "</p>"
    return f'<section id="{esc(section.key)}"><h2>{esc(section.title)} {status}</h2>{body}</section>'


def render_page(
    sections: Sequence[Section], renderers: Mapping[str, Renderer], run_dir: str | os.PathLike, kind: str | None = None,
) -> str:
    """The whole self-contained page; `renderers` maps each section key to its renderer; `kind` names the directory's kind."""
    title = f"Winnow report: {Path(run_dir).resolve().name}"
    found = f'<p class="kind">Found: {esc(kind)}</p>' if kind else ""
    if not sections:
        found += '<p class="kind">no section has data for this directory</p>'
    nav = "".join(f'<li><a href="#{esc(s.key)}">{esc(s.title)}</a></li>' for s in sections)
    body = "".join(_html_section(s, renderers[s.key]) for s in sections)
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body>"
        f"<header><h1>{esc(title)}</h1>{found}<p class=\"meta\">{esc(Path(run_dir).resolve())} · winnow {esc(__version__)}</p></header>"
        f"<nav><ul>{nav}</ul></nav><main>{body}</main></body></html>\n"
    )
