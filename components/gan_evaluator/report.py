"""``evaluation.html``: one self-contained page explaining a blessing decision.

Candidate and baseline sample grids side by side (PNG embedded as base64), the metrics table
with each gate's limit and result, the verdict, and an inline SVG plot of FD across earlier
runs. No JavaScript, no external resources: it opens offline in any browser.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import math

from artgan.models.metrics import fidelity

PLOT_WIDTH = 640
PLOT_HEIGHT = 240
PLOT_MARGIN = 48
PASS_COLOUR = "#1a7f37"
FAIL_COLOUR = "#cf222e"


@dataclasses.dataclass(frozen=True)
class HistoryPoint:
    """One evaluated model: its FD in one feature network's space and whether it was blessed."""

    label: str  # e.g. "model 12"
    fid: float
    blessed: bool
    current: bool = False


@dataclasses.dataclass(frozen=True)
class NearestFigure:
    """A generated sample beside its nearest training image (one PNG of two cells)."""

    png: bytes
    distance: float
    copy: bool


def _number(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    return f"{value:.4g}" if isinstance(value, float) else html.escape(str(value))


def _image(png: bytes | None, caption: str) -> str:
    if png is None:
        return f"<figure><figcaption>{html.escape(caption)}</figcaption><p>none</p></figure>"
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def _metrics_table(record: dict) -> str:
    names = record["metric_names"]
    candidate, baseline = record["candidate"], record.get("baseline")
    floor = record["real_floor"]

    def value(score: dict | None, metric: str) -> str:
        if not score:
            return "–"
        std = score.get(f"{metric}_std")
        shown = _number(score.get(metric, math.nan))
        return shown if std is None or math.isnan(std) else f"{shown} ± {_number(std)}"

    rows = []
    for metric in ("fid", "kid", "inception_score"):
        cells = (value(candidate, metric), value(baseline, metric), _number(floor.get(metric)))
        data = "".join(f"<td>{cell}</td>" for cell in cells)
        rows.append(f"<tr><th>{html.escape(names[metric])}</th>{data}</tr>")
    expected = {
        "density": "about 1 (above: crowds common images; below: off the data)",
        "coverage": "up to 1 (share of real images a sample lands near)",
        "copy_rate": f"about {fidelity.COPY_PERCENTILE / 100:.2g} for images as new as held-out",
    }
    for metric, label in (
        ("density", "density"),
        ("coverage", "coverage"),
        ("copy_rate", "near-copies of training images"),
    ):
        cells = (value(candidate, metric), value(baseline, metric), expected[metric])
        data = "".join(f"<td>{cell}</td>" for cell in cells)
        rows.append(f"<tr><th>{html.escape(label)}</th>{data}</tr>")
    return (
        "<table><tr><th>metric</th><th>candidate</th><th>baseline</th>"
        "<th>real vs real (floor) or expected</th></tr>" + "".join(rows) + "</table>"
    )


def _nearest_section(record: dict, nearest: list[NearestFigure]) -> str:
    if not nearest:
        return (
            "<p>Not shown: the evaluator was given no training examples, or the real "
            "statistics predate stored image digests.</p>"
        )
    distance = record["candidate"].get("copy_distance", math.nan)
    figures = []
    for figure in nearest:
        label = "near-copy" if figure.copy else "new"
        style = f' style="outline: 3px solid {FAIL_COLOUR}"' if figure.copy else ""
        data = base64.b64encode(figure.png).decode("ascii")
        figures.append(
            f'<figure class="{label}"{style}><img alt="sample and nearest training image" '
            f'src="data:image/png;base64,{data}"><figcaption>{label}, distance '
            f"{_number(figure.distance)}</figcaption></figure>"
        )
    copies = sum(figure.copy for figure in nearest)
    return (
        f"<p>Each sample (left) beside its nearest training image (right) in the feature "
        f"network's space; a sample closer than {_number(distance)} (the "
        f"{fidelity.COPY_PERCENTILE:g}th percentile of held-out real images' nearest-training "
        f"distances) counts as a near-copy: {copies} of {len(nearest)} here.</p>"
        f'<div class="grids">{"".join(figures)}</div>'
    )


def _checks_table(record: dict) -> str:
    rows = []
    for check in record["checks"]:
        colour = PASS_COLOUR if check["passed"] else FAIL_COLOUR
        rows.append(
            f'<tr><td>{html.escape(check["text"])}</td><td style="color:{colour}">'
            f"{'pass' if check['passed'] else 'FAIL'}</td></tr>"
        )
    if not rows:
        rows.append("<tr><td>no gate is configured</td><td></td></tr>")
    return "<table><tr><th>gate</th><th>result</th></tr>" + "".join(rows) + "</table>"


def fid_limit(record: dict) -> tuple[float | None, str]:
    """The FD gate to draw across runs: the absolute threshold, else the floor multiple."""
    config = record["eval_config"]
    if config.get("fid_threshold") is not None:
        return config["fid_threshold"], f"threshold {config['fid_threshold']:.3g}"
    multiple, floor = config.get("fid_max_over_floor"), record["real_floor"].get("fid")
    if multiple is None or floor is None or not math.isfinite(floor):
        return None, ""
    return multiple * floor, f"{multiple:.3g} x floor = {multiple * floor:.3g}"


def history_plot(
    points: list[HistoryPoint],
    title: str,
    threshold: float | None = None,
    threshold_label: str = "",
) -> str:
    """An inline SVG line plot of FD per run (green: blessed, red: not; ringed: this run)."""
    finite = [p for p in points if math.isfinite(p.fid)]
    if not finite:
        return "<p>No earlier runs with this feature network.</p>"
    top = max([p.fid for p in finite] + ([threshold] if threshold is not None else [])) * 1.1
    top = top if top > 0 else 1.0
    inner_w, inner_h = PLOT_WIDTH - 2 * PLOT_MARGIN, PLOT_HEIGHT - 2 * PLOT_MARGIN
    step = inner_w / max(len(finite) - 1, 1)

    def xy(index: int, value: float) -> tuple[float, float]:
        return PLOT_MARGIN + index * step, PLOT_MARGIN + inner_h * (1.0 - value / top)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{PLOT_WIDTH}" height="{PLOT_HEIGHT}" '
        f'role="img" aria-label="{html.escape(title)}" font-family="sans-serif" font-size="11">',
        f'<text x="{PLOT_MARGIN}" y="20" font-size="13">{html.escape(title)}</text>',
        f'<line x1="{PLOT_MARGIN}" y1="{PLOT_MARGIN + inner_h}" x2="{PLOT_MARGIN + inner_w}" '
        f'y2="{PLOT_MARGIN + inner_h}" stroke="#888"/>',
        f'<line x1="{PLOT_MARGIN}" y1="{PLOT_MARGIN}" x2="{PLOT_MARGIN}" '
        f'y2="{PLOT_MARGIN + inner_h}" stroke="#888"/>',
    ]
    for tick in range(5):
        value = top * tick / 4
        _, y = xy(0, value)
        parts.append(
            f'<text x="{PLOT_MARGIN - 6}" y="{y + 4:.1f}" text-anchor="end">{value:.3g}</text>'
        )
    if threshold is not None:
        label = threshold_label or f"threshold {threshold:.3g}"
        _, y = xy(0, threshold)
        parts.append(
            f'<line x1="{PLOT_MARGIN}" y1="{y:.1f}" x2="{PLOT_MARGIN + inner_w}" y2="{y:.1f}" '
            f'stroke="{FAIL_COLOUR}" stroke-dasharray="4 4"/>'
            f'<text x="{PLOT_MARGIN + inner_w}" y="{y - 4:.1f}" text-anchor="end" '
            f'fill="{FAIL_COLOUR}">{html.escape(label)}</text>'
        )
    line = " ".join("{:.1f},{:.1f}".format(*xy(i, p.fid)) for i, p in enumerate(finite))
    parts.append(f'<polyline points="{line}" fill="none" stroke="#555"/>')
    for index, point in enumerate(finite):
        x, y = xy(index, point.fid)
        colour = PASS_COLOUR if point.blessed else FAIL_COLOUR
        ring = ' stroke="#000" stroke-width="2"' if point.current else ""
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{6 if point.current else 4}" '
            f'fill="{colour}"{ring}><title>{html.escape(point.label)}: {point.fid:.4g}'
            f"</title></circle>"
        )
        parts.append(
            f'<text x="{x:.1f}" y="{PLOT_MARGIN + inner_h + 16}" text-anchor="middle">'
            f"{html.escape(point.label)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; }
.grids { display: flex; gap: 2em; flex-wrap: wrap; }
figure { margin: 0; }
img { image-rendering: pixelated; max-width: 100%; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: left; }
.verdict { font-size: 1.4em; font-weight: bold; }
"""


def render_report(
    record: dict,
    candidate_png: bytes,
    baseline_png: bytes | None,
    history: list[HistoryPoint],
    nearest: list[NearestFigure] = (),
) -> str:
    """The whole page for one evaluation ``record`` (the content of metrics.json)."""
    blessed = record["blessed"]
    verdict = "BLESSED" if blessed else "NOT blessed"
    colour = PASS_COLOUR if blessed else FAIL_COLOUR
    candidate = record["candidate"]
    baseline = record.get("baseline")
    network = record["feature_network"]
    fid_name = record["metric_names"]["fid"]
    settings = {
        "feature network": network,
        "held-out accuracy": record.get("feature_network_heldout_accuracy"),
        "generated samples per model": record["num_samples"],
        "reference": f"eval split, {record['reference']['num_images']} real images",
        **{k: v for k, v in record["feature_network_description"].items()},
    }
    settings_rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{_number(v)}</td></tr>" for k, v in settings.items()
    )
    baseline_caption = f"baseline: model {baseline['model_id']}" if baseline else "baseline"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>artgan evaluation: model {candidate["model_id"]} {verdict}</title>
<style>{STYLE}</style></head><body>
<h1>Evaluation of model {candidate["model_id"]}</h1>
<p class="verdict" style="color:{colour}">{verdict}</p>
<div class="grids">
{_image(candidate_png, f"candidate: model {candidate['model_id']}")}
{_image(baseline_png, baseline_caption)}
</div>
<h2>Nearest training images</h2>
{_nearest_section(record, list(nearest))}
<h2>Gates</h2>
{_checks_table(record)}
<h2>Metrics</h2>
{_metrics_table(record)}
<h2>{html.escape(fid_name)} across runs</h2>
{history_plot(history, f"{fid_name} per evaluated model", *fid_limit(record))}
<h2>How the numbers were made</h2>
<table>{settings_rows}</table>
</body></html>
"""
