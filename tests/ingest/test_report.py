"""`idres dedup --report`: the page renders in headless Chromium and every chart draws."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from idres.cli import build_parser
from idres.cli import dedup as dedup_cli
from idres.ingest.generator import write_generated

CHART = re.compile(r'<div class="chart" id="(chart-\d+-\d+)"')


def rendered(page: Path) -> str:
    """The page's DOM after its scripts ran, as Chromium (Debian's package; `make test`
    installs it) leaves it."""
    browser = shutil.which("chromium")
    assert browser, "the report test needs Debian's chromium: `make test` installs it"
    done = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=10000",
            "--dump-dom",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


def test_the_report_renders_every_chart(tmp_path: Path) -> None:
    data, _, _ = write_generated(tmp_path / "people.csv", 300, 5)
    page = tmp_path / "report.html"
    out = str(tmp_path / "c.csv")
    argv = ["dedup", str(data), "--out", out, "--report", str(page), "--max-pairs", "100000"]
    args = build_parser().parse_args(argv)
    assert dedup_cli.run(args) == 0
    source = page.read_text(encoding="utf-8")
    assert "cdn.jsdelivr" not in source and "<script src" not in source  # self-contained
    charts = CHART.findall(source)
    # Completeness, match weights, m/u, weight histogram, cluster sizes, 4 waterfalls.
    assert len(charts) == 9
    dom = rendered(page)
    assert "Javascript Error" not in dom
    starts = [dom.index(f'id="{chart}"') for chart in charts] + [len(dom)]
    for chart, start, end in zip(charts, starts, starts[1:], strict=False):
        assert re.search("<canvas|<svg", dom[start:end]), f"{chart} did not draw"
    assert "Cluster sizes" in dom and "<table>" in dom
