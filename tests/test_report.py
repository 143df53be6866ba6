"""evaluation.html (gan_evaluator/report.py): self-contained, and it explains the decision."""

from __future__ import annotations

import base64
import io
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

from artgan.components.gan_evaluator.report import HistoryPoint, history_plot, render_report


def png_bytes(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((4, 4), value, dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def record(blessed: bool, with_baseline: bool = True) -> dict:
    score = {"fid": 8.25, "kid": 0.125, "kid_std": 0.5, "inception_score": 7.5, "model_id": 12}
    baseline = {**score, "fid": 9.5, "model_id": 7} if with_baseline else None
    return {
        "blessed": blessed,
        "checks": [
            {"text": "FD (domain_classifier) 8.25 <= threshold 30", "passed": True},
            {"text": "KD (domain_classifier) 0.125 > threshold 0.1", "passed": blessed},
        ],
        "feature_network": "domain_classifier",
        "metric_names": {
            "fid": "FD (domain_classifier)",
            "kid": "KD (domain_classifier)",
            "inception_score": "CS (domain_classifier)",
        },
        "feature_network_heldout_accuracy": 0.97,
        "feature_network_description": {"resize": "none", "quantisation": "uint8"},
        "candidate": score,
        "baseline": baseline,
        "real_floor": {"fid": 3.5, "kid": -0.01},
        "reference": {"num_images": 383},
        "num_samples": 10000,
        "eval_config": {"fid_threshold": 30.0},
    }


HISTORY = [
    HistoryPoint("model 3", 40.0, False),
    HistoryPoint("model 7", 9.5, True),
    HistoryPoint("model 12", 8.25, True, current=True),
]


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.urls = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


@pytest.fixture
def page() -> str:
    return render_report(record(blessed=False), png_bytes(10), png_bytes(200), HISTORY)


def test_the_page_needs_nothing_from_outside(page):
    parsed = _Collector()
    parsed.feed(page)
    assert "script" not in parsed.tags and "link" not in parsed.tags
    assert parsed.urls and all(url.startswith("data:image/png;base64,") for url in parsed.urls)


def test_candidate_and_baseline_grids_are_embedded_side_by_side(page):
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert [base64.b64decode(data) for data in images] == [png_bytes(10), png_bytes(200)]
    assert "candidate: model 12" in page and "baseline: model 7" in page


def test_verdict_gates_and_numbers_are_shown(page):
    assert "NOT blessed" in page
    assert "KD (domain_classifier) 0.125 &gt; threshold 0.1" in page and "FAIL" in page
    for text in ("FD (domain_classifier)", "8.25", "9.5", "3.5", "383", "0.97", "10000", "± 0.5"):
        assert text in page, text
    assert "FID" not in page.replace("FD (", "")  # not the Inception network: never "FID"


def test_a_blessed_run_without_baseline():
    page = render_report(record(blessed=True, with_baseline=False), png_bytes(10), None, HISTORY)
    assert "BLESSED" in page and "NOT blessed" not in page
    assert page.count("data:image/png;base64,") == 1


def test_history_plot_is_valid_svg_with_one_marker_per_run():
    svg = ET.fromstring(history_plot(HISTORY, "FD per model", threshold=30.0))
    namespace = "{http://www.w3.org/2000/svg}"
    circles = svg.findall(f"{namespace}circle")
    assert len(circles) == 3
    assert [c.get("fill") for c in circles] == ["#cf222e", "#1a7f37", "#1a7f37"]
    assert circles[-1].get("stroke") == "#000"  # this run is ringed
    heights = [float(c.get("cy")) for c in circles]
    assert heights[0] < heights[1] < heights[2]  # SVG y grows downwards: 40 > 9.5 > 8.25
    labels = [t.text for t in svg.findall(f"{namespace}text")]
    assert "model 3" in labels and "threshold 30" in labels


def test_the_plot_draws_the_floor_gate_when_there_is_no_absolute_threshold():
    floor_gated = record(blessed=True, with_baseline=False)
    floor_gated["eval_config"] = {"fid_threshold": None, "fid_max_over_floor": 8.0}
    page = render_report(floor_gated, png_bytes(10), None, HISTORY)
    assert "8 x floor = 28" in page  # 8 x the floor of 3.5
    ungated = dict(floor_gated, eval_config={"fid_threshold": None, "fid_max_over_floor": None})
    assert "floor =" not in render_report(ungated, png_bytes(10), None, HISTORY)


def test_history_plot_without_runs_says_so():
    assert "No earlier runs" in history_plot([], "FD")
    assert "No earlier runs" in history_plot([HistoryPoint("m", float("nan"), True)], "FD")
