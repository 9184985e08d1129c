"""`idres dedup --report`: one self-contained HTML page on what a dedup run did.

The page profiles the input (Splink's completeness chart), shows the model (Splink's match
weights and m/u charts), the distribution of each record's best match weight (Splink's
histogram chart), the cluster sizes with the largest clusters listed, and waterfall charts
(Splink's) of sample links. The chart libraries Splink bundles are inlined, so the page works
offline.
"""

from __future__ import annotations

import copy
import html
import json
import logging
import math
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from splink import DuckDBAPI, Linker
from splink.exploratory import completeness_chart
from splink.internals.charts import MatchWeightsHistogramChart
from splink.internals.html_utils import load_chart_libraries

from idres.ingest.dedup import DedupResult
from idres.resolver.domain.scoring import FEATURE_COLUMNS

SAMPLE_LINKS = 4
LARGEST_LISTED = 10


def write_report(path: Path, result: DedupResult, *, seed: int = 7) -> None:
    """Writes the page; every chart is a Vega-Lite spec rendered in the browser."""
    linker = _linker(result)
    sections = [
        ("Input: completeness per column", [_completeness(result.frame)], _profile(result)),
        (
            "Model: match weights and m/u parameters",
            [
                linker.visualisations.match_weights_chart().chart_dict,
                linker.visualisations.m_u_parameters_chart().chart_dict,
            ],
            f"<p>Model {html.escape(result.model_version)}; threshold p &ge; "
            f"{result.threshold:g}.</p>",
        ),
        (
            "Best match weight of each record",
            [_histogram(result.decisions.best_weights)],
            "<p>The weight of each record's best candidate when it was decided.</p>",
        ),
        ("Cluster sizes", [_cluster_sizes(result)], _largest(result)),
        ("Sample links, explained", _waterfalls(linker, result, seed), _links_note()),
    ]
    path.write_text(_page(sections), encoding="utf-8")


def _linker(result: DedupResult) -> Linker:
    model = copy.deepcopy(result.model)
    # The waterfall chart reads the per-comparison columns Splink otherwise drops.
    model["retain_intermediate_calculation_columns"] = True
    model["retain_matching_columns"] = True
    db_api = DuckDBAPI()
    linker = Linker(db_api.register(result.frame), model, log_level=logging.WARNING)
    for column in _tf_columns(model):
        linker.table_management.compute_tf_table(column)
    return linker


def _tf_columns(model: Mapping[str, Any]) -> list[str]:
    found = {
        str(level["tf_adjustment_column"])
        for comparison in model["comparisons"]
        for level in comparison["comparison_levels"]
        if level.get("tf_adjustment_column")
    }
    return sorted(found)


def _completeness(frame: pa.Table) -> dict[str, Any]:
    db_api = DuckDBAPI()
    registered = db_api.register(frame.select(list(FEATURE_COLUMNS)))
    spec: dict[str, Any] = completeness_chart(registered).chart_dict
    return spec


def _profile(result: DedupResult) -> str:
    return (
        f"<p>{result.rows_read:,} rows read, {len(result.rejected_rows):,} rejected,"
        f" {result.records:,} records clustered into {result.clusters:,} clusters.</p>"
    )


def _histogram(weights: Sequence[float]) -> dict[str, Any]:
    width = 1.0
    bins = Counter(math.floor(w / width) * width for w in weights)
    records = [
        {
            "splink_score_bin_low": low,
            "splink_score_bin_high": low + width,
            "binwidth": width,
            "count_rows": count,
        }
        for low, count in sorted(bins.items())
    ]
    chart = MatchWeightsHistogramChart(records)
    chart.set_width_height(width=600, height=250)
    spec: dict[str, Any] = chart.chart_dict
    return spec


def _sizes(result: DedupResult) -> list[tuple[str, int]]:
    counts = pc.value_counts(result.assignments.column("cluster_id")).to_pylist()
    return sorted(((c["values"], int(c["counts"])) for c in counts), key=lambda x: -x[1])


def _cluster_sizes(result: DedupResult) -> dict[str, Any]:
    histogram = Counter(size for _, size in _sizes(result))
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": "Clusters by size",
        "width": 600,
        "height": 250,
        "data": {"values": [{"size": s, "clusters": n} for s, n in sorted(histogram.items())]},
        "mark": "bar",
        "encoding": {
            "x": {"field": "size", "type": "ordinal", "title": "records in the cluster"},
            "y": {"field": "clusters", "type": "quantitative", "scale": {"type": "log"}},
            "tooltip": [{"field": "size"}, {"field": "clusters"}],
        },
    }


def _largest(result: DedupResult) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(cid)}</td><td>{size:,}</td></tr>"
        for cid, size in _sizes(result)[:LARGEST_LISTED]
    )
    return f"<table><tr><th>cluster</th><th>records</th></tr>{rows}</table>"


def _waterfalls(linker: Linker, result: DedupResult, seed: int) -> list[dict[str, Any]]:
    """The weakest links and a few random ones: where a reader should look first."""
    links = sorted(result.decisions.links, key=lambda link: (link[2], link[0], link[1]))
    rng = random.Random(seed)
    picked = links[: SAMPLE_LINKS // 2]
    rest = links[SAMPLE_LINKS // 2 :]
    picked += rng.sample(rest, min(len(rest), SAMPLE_LINKS - len(picked)))
    if not picked:
        return []
    rows = _rows(result.frame, {rid for link in picked for rid in link[:2]})
    charts = []
    for left, right, _ in picked:
        scored = linker.inference.score_pair(rows[left], rows[right]).as_record_list()
        charts.append(linker.visualisations.waterfall_chart(scored).chart_dict)
    return charts


def _rows(frame: pa.Table, wanted: set[str]) -> dict[str, dict[str, Any]]:
    mask = pc.is_in(frame.column("unique_id"), pa.array(sorted(wanted), pa.string()))
    return {row["unique_id"]: row for row in frame.filter(mask).to_pylist()}


def _links_note() -> str:
    return (
        "<p>Each chart adds up one link's match weight comparison by comparison: the prior,"
        " then each field's weight (term-frequency adjustments apart), to the final weight.</p>"
    )


def _page(sections: Sequence[tuple[str, Sequence[Mapping[str, Any]], str]]) -> str:
    libraries: dict[str, str] = load_chart_libraries()  # type: ignore[no-untyped-call]
    scripts = "".join(
        f"<script>{libraries[name]}</script>" for name in ("vega", "vega-lite", "vega-embed")
    )
    body, embeds = [], []
    for number, (title, charts, note) in enumerate(sections):
        body.append(f"<section><h2>{html.escape(title)}</h2>{note}")
        for index, spec in enumerate(charts):
            element = f"chart-{number}-{index}"
            body.append(f'<div class="chart" id="{element}"></div>')
            embeds.append(f"vegaEmbed('#{element}', {_json(spec)}, {{actions: false}});")
        body.append("</section>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>idres dedup report</title><style>body{font-family:sans-serif;margin:2em}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px}</style>"
        f"{scripts}</head><body><h1>idres dedup report</h1>{''.join(body)}"
        f"<script>{''.join(embeds)}</script></body></html>\n"
    )


def _json(spec: Mapping[str, Any]) -> str:
    """JSON safe inside a script element."""
    return json.dumps(spec, default=float).replace("</", "<\\/")
