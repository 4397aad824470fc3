"""The report as one self-contained HTML page: figures and thumbnails embedded as data URIs, no external
file, font or script, so the page can be mailed or archived alone.

A small script counts on load the images that decoded (``data-images-loaded`` / ``data-images`` on
``<body>``), which the browser test reads back.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from vlkge_graph import __version__
from vlkge_graph.report.baseline import Baseline
from vlkge_graph.report.data import RunData
from vlkge_graph.report.gallery import Card, GalleryQuery

METRIC_COLUMNS = (("count", "queries", "{:d}"), ("mrr", "MRR", "{:.4f}"), ("mr", "MR", "{:.1f}"),
                  ("hits@1", "Hits@1", "{:.3f}"), ("hits@3", "Hits@3", "{:.3f}"), ("hits@10", "Hits@10", "{:.3f}"))

CSS = """
:root { --ink: #1f2933; --muted: #616e7c; --line: #e4e7eb; --accent: #2f6690; --good: #2e7d32; --soft: #f5f7fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: var(--ink); background: #fff; }
main { max-width: 1120px; margin: 0 auto; padding: 28px 32px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
.sub { color: var(--muted); margin: 0 0 18px; }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(240px, 1fr)); gap: 10px; }
.fact { background: var(--soft); border-radius: 6px; padding: 8px 12px; }
.fact b { display: block; font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; margin: 6px 0; }
th, td { padding: 5px 12px; border-bottom: 1px solid var(--line); text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { font-size: 13px; color: var(--muted); border-bottom: 2px solid var(--line); }
tr.main td { font-weight: 600; }
tr.baseline td { color: var(--muted); font-style: italic; }
figure { margin: 10px 0 18px; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; }
figcaption, .caption { color: var(--muted); font-size: 13px; margin-top: 4px; }
.missing { background: #fff8e1; border-left: 4px solid #f0b429; padding: 10px 14px; color: #5f4b00; margin: 8px 0; }
.query { border: 1px solid var(--line); border-radius: 8px; padding: 12px; margin: 14px 0; }
.query h3 { font-size: 15px; margin: 0 0 8px; }
.query h3 .rel { color: var(--accent); font-family: ui-monospace, Menlo, Consolas, monospace; }
.row { display: grid; grid-template-columns: 1.15fr repeat(5, 1fr); gap: 10px; align-items: start; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 8px; font-size: 12.5px; min-height: 100%; }
.card.query-entity { background: var(--soft); }
.card.correct { border: 2px solid var(--good); background: #f1f8f1; }
.card .thumb { height: 96px; display: flex; align-items: center; justify-content: center; background: #fff;
               border-radius: 4px; margin-bottom: 6px; }
.card .thumb img { max-height: 96px; max-width: 100%; }
.card .thumb.none { color: var(--muted); font-size: 11.5px; background: var(--soft); text-align: center; padding: 6px; }
.card .name { font-weight: 600; font-size: 13.5px; }
.card .meta { color: var(--muted); font-size: 11.5px; }
.card .text { margin-top: 4px; color: #3e4c59; }
.badge { display: inline-block; font-size: 11px; font-weight: 600; padding: 1px 7px; border-radius: 10px;
         background: var(--good); color: #fff; margin: 2px 0; }
.rank { color: var(--muted); font-weight: 600; }
footer { color: var(--muted); font-size: 12px; margin-top: 40px; border-top: 1px solid var(--line); padding-top: 10px; }
"""

SCRIPT = """
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var loaded = images.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute("data-images", String(images.length));
  document.body.setAttribute("data-images-loaded", String(loaded));
});
"""


def render(data: RunData, figures: Mapping[str, Path], gallery: Sequence[GalleryQuery] | None,
           gallery_note: str | None, baseline: Baseline) -> str:
    """The page: header, test metrics, figures (a note in place of each missing one), gallery, timings."""
    state = data.state
    parts = [f"<h1>Run report: {escape(state.run_id)}</h1>",
             f'<p class="sub">{escape(_subtitle(data))}</p>', _facts(data),
             "<h2>Test metrics</h2>", _metrics(data, baseline),
             "<h2>Per relation</h2>", _figure(figures, "relation_mrr", data.notes.get("metrics"),
                                             "Filtered MRR per relation (bars) and Hits@10 (ticks); n = test queries "
                                             "(both directions)."),
             "<h2>By group</h2>", _figure(figures, "groups", data.notes.get("groups"),
                                         "Test queries grouped by whether the answer was seen in training and "
                                         "by which modalities (image, text) the answer entity has."),
             "<h2>Training</h2>", _figure(figures, "training_curve", data.notes.get("history"),
                                         _training_caption(data)),
             "<h2>Calibration</h2>", _calibration(data, figures),
             "<h2>Sample predictions</h2>", _gallery(gallery, gallery_note),
             "<h2>Stage timings</h2>", _timings(data),
             f"<footer>Written by vlkge-graph {escape(__version__)} at "
             f"{datetime.now(UTC).isoformat(timespec='seconds')} from {escape(str(data.run_dir))}. "
             f"The figures are also beside this file as PNG: {escape(', '.join(p.name for p in figures.values()))}."
             "</footer>"]
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>vlkge-graph run {escape(state.run_id)}</title>\n<style>{CSS}</style>\n"
            f"<script>{SCRIPT}</script>\n</head>\n<body>\n<main>\n" + "\n".join(parts)
            + "\n</main>\n</body>\n</html>\n")


def data_uri(path: Path) -> str:
    """A PNG file as a data URI."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _subtitle(data: RunData) -> str:
    state = data.state
    kind = state.kind if not state.parent else f"{state.kind} of run {state.parent}"
    return f"scope {state.scope} · {kind}"


def _facts(data: RunData) -> str:
    model, encoders, counts = data.model, data.encoders, data.counts
    facts: list[tuple[str, str]] = []
    if model:
        facts.append(("model", f"{model.get('backbone', '?')}, dim {model.get('dim', '?')}"
                               + (", reciprocal" if model.get("reciprocal") else "")))
        facts.append(("fusion", str(model.get("fusion", "?"))))
    facts.append(("encoders", ", ".join(f"{m}: {e}" for m, e in encoders.items()) or "none (structure only)"))
    if counts:
        facts.append(("entities", f"{counts.get('entities', 0):,} ({counts.get('entities_with_image', 0):,} with an "
                                  f"image, {counts.get('entities_with_text', 0):,} with a text)"))
        facts.append(("facts", f"{counts.get('triples', 0):,} in {counts.get('relations', 0)} relations: "
                               f"{counts.get('train', 0):,} train / {counts.get('valid', 0):,} valid / "
                               f"{counts.get('test', 0):,} test"))
    train = data.state.stages.get("train")
    if train:
        facts.append(("training", f"{train.get('epochs')} epochs, kept epoch {train.get('best_epoch')}"
                                  + (" (warm start)" if train.get("warm_start") else "")))
    candidates = data.state.stages.get("predict", {}).get("candidates")
    if candidates is not None:
        published = "published" if "publish" in data.state.stages else "not published (dry run)"
        facts.append(("candidate links", f"{candidates:,}, {published}"))
    return '<div class="facts">' + "".join(f'<div class="fact"><b>{escape(k)}</b>{escape(v)}</div>'
                                           for k, v in facts) + "</div>"


def _metric_row(label: str, m: Mapping[str, Any], css: str = "") -> str:
    cells = "".join(f"<td>{fmt.format(int(m[key]) if key == 'count' else m[key])}</td>" if key in m else "<td>-</td>"
                    for key, _, fmt in METRIC_COLUMNS)
    return f'<tr class="{css}"><td>{escape(label)}</td>{cells}</tr>'


def _metrics(data: RunData, baseline: Baseline) -> str:
    metrics = data.metrics
    if metrics is None:
        return _missing(data.notes.get("metrics", "no metrics"))
    head = "".join(f"<th>{escape(title)}</th>" for _, title, _ in METRIC_COLUMNS)
    rows = [_metric_row("all queries", metrics["overall"], "main")]
    rows += [_metric_row(f"{direction} queries", m) for direction, m in metrics.get("per_direction", {}).items()]
    if baseline.metrics is not None:
        rows.append(_metric_row("zero-shot VLM baseline (tail queries)", baseline.metrics, "baseline"))
    protocol = metrics.get("protocol", {})
    caption = (f"{metrics['split']} split, filtered ranking (filter {protocol.get('filter', '?')}, ties "
               f"{protocol.get('ties', '?')}); MR: mean rank.")
    if data.sources.get("metrics"):
        caption += f" Metrics {data.sources['metrics']}."
    if baseline.metrics is not None:
        caption += (f" The zero-shot baseline ranks each test triple's tail among its relation's known answers by "
                    f"the cosine of the head's image and the prompt '<relation> <answer name>' ({baseline.encoder}, "
                    "no training): compare it with the tail queries' row.")
    note = "" if baseline.metrics is not None else _missing(f"Zero-shot VLM baseline: {baseline.reason}.")
    return (f"<table><thead><tr><th>slice</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            f'<p class="caption">{escape(caption)}</p>{note}')


def _figure(figures: Mapping[str, Path], name: str, missing: str | None, caption: str) -> str:
    path = figures.get(name)
    if path is None:
        return _missing(missing or f"no data for the {name.replace('_', ' ')} figure")
    return (f'<figure id="fig-{name.replace("_", "-")}"><img src="{data_uri(path)}" alt="{escape(caption)}">'
            f"<figcaption>{escape(caption)}</figcaption></figure>")


def _training_caption(data: RunData) -> str:
    caption = ("Training loss per epoch and the validation MRR where it was evaluated; the dashed line is the kept "
               "model.")
    if data.sources.get("history"):
        caption += f" History {data.sources['history']}."
    return caption


def _calibration(data: RunData, figures: Mapping[str, Path]) -> str:
    calibration = data.calibration
    if calibration is None:
        return _missing(data.notes["calibration"])
    test = calibration["test"]
    table = ("<table><thead><tr><th>test split</th><th>ECE</th><th>Brier</th></tr></thead><tbody>"
             f'<tr class="main"><td>calibrated ({escape(str(calibration.get("method", "?")))})</td>'
             f"<td>{test['ece']:.4f}</td><td>{test['brier']:.4f}</td></tr>"
             f"<tr><td>uncalibrated</td><td>{test['ece_uncalibrated']:.4f}</td>"
             f"<td>{test['brier_uncalibrated']:.4f}</td></tr></tbody></table>")
    caption = (f"Fitted on the {calibration.get('fitted_on', '?')} split per relation, base rate "
               f"{calibration.get('base_rate', float('nan')):.3g}. ECE: expected calibration error (lower is better); "
               "Brier: mean squared error of the probabilities.")
    if data.sources.get("calibration"):
        caption += f" Calibration {data.sources['calibration']}."
    return table + f'<p class="caption">{escape(caption)}</p>' + _figure(
        figures, "reliability", None, "Reliability diagram: a point on the diagonal means that of the pairs "
        "given that probability, that share is true.")


def _card(card: Card, css: str = "", rank: int | None = None) -> str:
    if card.image is not None:
        thumb = f'<div class="thumb"><img src="{card.image}" alt="{escape(card.name)}"></div>'
    else:  # an entity without an image shows its text only; one whose image failed says why
        thumb = f'<div class="thumb none">{escape(card.image_note)}</div>' if card.image_note else ""
    label = '<div class="meta">query</div>' if css == " query-entity" else ""
    lines = [thumb, label + '<div class="name">' + (f'<span class="rank">{rank}.</span> ' if rank else "")
             + f"{escape(card.name)}</div>", f'<div class="meta">{escape(card.id)}'
             + (f" · score {card.score:.2f}" if card.score is not None else "") + "</div>"]
    if card.mark:
        lines.append(f'<span class="badge">✓ {escape(card.mark)}</span>')
    lines.append(f'<div class="text">{escape(card.text)}</div>' if card.text else '<div class="meta">no text</div>')
    return f'<div class="card{css}{" correct" if card.mark else ""}">' + "".join(lines) + "</div>"


def _gallery(gallery: Sequence[GalleryQuery] | None, note: str | None) -> str:
    if not gallery:
        return _missing(note or "no test queries to show")
    blocks = []
    for q in gallery:
        name, relation = escape(q.anchor.name), f'<span class="rel">{escape(q.relation)}</span>'
        arrow = f"{name} — {relation} → ?" if q.direction == "tail" else f"? — {relation} → {name}"
        found = "" if any(c.mark == "test answer" for c in q.top) else f" (not in the top {len(q.top)})"
        head = (f"<h3>{arrow}</h3><div class=\"caption\">"
                f"test answer: {escape(q.answer.name)}, ranked {q.answer_rank} of {q.candidates} (filtered){found}"
                "</div>")
        cards = _card(q.anchor, " query-entity") + "".join(_card(c, rank=i) for i, c in enumerate(q.top, 1))
        blocks.append(f'<div class="query">{head}<div class="row">{cards}</div></div>')
    intro = ('<p class="caption">Test queries drawn at random (fixed seed), one relation after another. Left: the '
             "query entity; then the model's top 5 among all entities, unfiltered, so answers that are true are "
             "marked: the test answer and answers known from any split.</p>")
    return intro + "".join(blocks)


def _timings(data: RunData) -> str:
    rows = "".join(f"<tr><td>{escape(name)}</td><td>{seconds:.1f}</td></tr>" for name, seconds in data.timings.items())
    total = sum(data.timings.values())
    return (f"<table><thead><tr><th>stage</th><th>seconds</th></tr></thead><tbody>{rows}"
            f'<tr class="main"><td>total</td><td>{total:.1f}</td></tr></tbody></table>')


def _missing(note: str) -> str:
    return f'<div class="missing">{escape(note)}</div>'
