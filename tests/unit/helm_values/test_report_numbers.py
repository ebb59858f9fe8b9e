# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One set of numbers: every API figure of report.md (table, predicted effect, warnings), api-time.svg and the
fleet row is the same number, read from ``_report.report_figures``, for what the values really write."""

from __future__ import annotations

import re
import typing as t
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.velero_ops.tuning.plugins.module_utils import _api_load as api
from ansible_collections.velero_ops.tuning.plugins.module_utils import _helm_values as hv
from ansible_collections.velero_ops.tuning.plugins.module_utils import _report as rp
from ansible_collections.velero_ops.tuning.plugins.module_utils._recommend import recommend

SVG = "{http://www.w3.org/2000/svg}"
LARGE = {"namespaces": 3000, "objects": 2_500_000, "resource_types": 300, "nodes": 200}
DATA = {"volume_bytes": "10Ti", "repositories": 200}

CASES = {
    # 2.5M objects: pages of 1000, QPS stops at the fair-share bound (the warning quotes the API phase there).
    "large-at-bound": ("1.16.2", "10.1.3", LARGE, {"target_api_seconds": 5}, None, ()),
    # The same capped by policy.max_client_qps (the warning quotes the API phase at the cap).
    "large-capped": ("1.18.1", "12.1.0", LARGE, {"max_client_qps": 400}, None, ()),
    # Before Velero 1.15 plugins stay at 5/10: their throttling is part of the modeled API phase.
    "large-old-velero": ("1.14.0", "7.1.1", LARGE, {"target_api_seconds": 5}, None, ()),
    # The user's own QPS/burst kept: the report, chart and fleet row show 50/80 and its effect.
    "user-rate-wins": ("1.17.1", "11.4.0", {"namespaces": 45, "objects": 30000, "resource_types": 380, "nodes": 8},
                       {"target_api_seconds": 5}, {"configuration": {"clientQPS": 50, "clientBurst": 80}},
                       ("configuration.clientQPS", "configuration.clientBurst")),
    # The user's page size kept where the recommendation is 1000.
    "user-page-wins": ("1.16.2", "10.1.3", LARGE, {}, {"configuration": {"clientPageSize": 500}},
                       ("configuration.clientPageSize",)),
}


def render(case: str) -> tuple[dict[str, t.Any], dict[str, t.Any], dict[str, t.Any]]:
    velero, chart, cluster, policy, overrides, wins = CASES[case]
    rec = recommend({"velero_version": velero, "cluster": cluster, "data": DATA, "policy": policy})
    rendered = hv.render_values(rec, chart, overrides=overrides, user_wins=list(wins))
    return rec, rendered, rp.report_figures(rec, rendered)


def section(markdown: str, heading: str) -> str:
    return markdown.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]


def svg_labels(svg: str) -> dict[str, str]:
    """Legend texts of the chart's markers, by label ("Velero default", "recommended", "written (yours kept)")."""
    root = ET.fromstring(svg)
    texts = [node.text or "" for node in root.iter(f"{SVG}text")]
    return dict(text.split(": ", 1) for text in texts if " QPS, " in text)


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_number_of_report_chart_warnings_and_fleet_row_agrees(case):
    rec, rendered, figures = render(case)
    states = figures["states"]
    default, recommended, written = states["default"], states["recommended"], states["written"]
    seconds = {name: {key: rp._seconds(state[key]) for key in ("throttle_seconds", "api_seconds")}
               for name, state in states.items()}
    report = rp.cluster_report("c", rec, rendered, figures=figures)
    # The same object, computed again from the same inputs, is the same (no hidden state).
    assert rp.cluster_report("c", rec, rendered) == report

    # Table: the QPS and burst rows show default -> written.
    rows = {line.split(" | ")[0][2:]: line for line in section(report, "Tuned values").splitlines()}
    effect = (f"client-side throttling per full backup {seconds['default']['throttle_seconds']} -> "
              f"{seconds['written']['throttle_seconds']}; modeled API phase {seconds['default']['api_seconds']} -> "
              f"{seconds['written']['api_seconds']}")
    assert effect in rows["server.client_qps"] and effect in rows["server.client_burst"]
    assert f"about {written['requests']} API requests per full backup in pages of {written['page_size']}" in \
        rows["server.client_page_size"]

    # Predicted effect: the same numbers.
    predicted = section(report, "Predicted effect")
    assert f"- API requests for a whole-cluster backup: {written['requests']}" in predicted
    assert (f"- Client-side throttling per backup: {seconds['default']['throttle_seconds']} with Velero's defaults, "
            f"{seconds['written']['throttle_seconds']} with the written values") in predicted
    assert (f"- Modeled API phase of a backup: {seconds['default']['api_seconds']} with Velero's defaults, "
            f"{seconds['written']['api_seconds']} with the written values") in predicted
    if written["page_size"] != default["page_size"]:
        assert f"({default['requests']} with Velero's default pages of {default['page_size']})" in predicted

    # Chart: each marker's label is the table's number; the x-axis spans every marked QPS.
    svg = rp.figures_svg(figures, title="c")
    labels = svg_labels(svg)
    assert labels["Velero default"] == f"{rp.describe(default['qps'])} QPS, {seconds['default']['api_seconds']}"
    assert labels["recommended"] == f"{rp.describe(recommended['qps'])} QPS, {seconds['recommended']['api_seconds']}"
    if figures["written_differs"]:
        assert labels["written (yours kept)"] == (f"{rp.describe(written['qps'])} QPS, "
                                                  f"{seconds['written']['api_seconds']}")
    else:
        assert "written (yours kept)" not in labels
    curve_qps = [point["qps"] for point in figures["curve"]]
    assert min(curve_qps) <= min(state["qps"] for state in states.values())
    assert max(curve_qps) >= max(state["qps"] for state in states.values())

    # Warnings: a number about the API phase at some QPS is the figures' number at that QPS.
    warnings = section(report, "Warnings") if "## Warnings" in report else ""
    paged = api.RequestCount.from_breakdown(rec["predicted"]["api_requests_breakdown"])
    inherit = rec["plugins"]["inherit_server_flags"]
    defaults = rec["velero_defaults"]
    bound = re.search(r"at (\d+(?:\.\d+)?) QPS the modeled API phase takes (\S+) \((\d+) requests", warnings)
    if bound:
        qps = float(bound.group(1))
        burst = api.burst_for_defaults(defaults["server.client_qps"], defaults["server.client_burst"], qps)
        at_page = paged.at_page(recommended["page_size"])
        assert bound.group(2) == rp._seconds(api.phase_seconds(at_page, qps, burst, inherit))
        assert int(bound.group(3)) == recommended["requests"]
        if qps == recommended["qps"]:
            assert bound.group(2) == seconds["recommended"]["api_seconds"]
    cap = re.search(r"modeled API phase at the cap: (\S+)\.", warnings)
    if cap:
        assert cap.group(1) == seconds["recommended"]["api_seconds"]
    assert bound or cap or not case.startswith("large"), "the large cases quote the API phase in a warning"
    plugin = re.search(r"Modeled plugin throttling of a whole-cluster backup: (\S+) ", warnings)
    if plugin:
        assert f"{plugin.group(1)} of throttling per backup that no value can remove" in predicted

    # Fleet row and fleet table: what is written, with the same throttling.
    row = rp.fleet_summary("c", rec, rendered, figures=figures)
    assert (row["client_qps"], row["client_burst"], row["client_page_size"]) == (
        written["qps"], written["burst"], written["page_size"])
    line = next(line for line in rp.fleet_report([row]).splitlines() if line.startswith("| c |"))
    assert (f"| {seconds['default']['throttle_seconds']} -> {seconds['written']['throttle_seconds']} |") in line
    assert f"-> {rp.describe(written['qps'])}/{rp.describe(written['burst'])}" in line


def test_the_users_rate_is_on_the_chart_and_in_the_report():
    rec, rendered, figures = render("user-rate-wins")
    written = figures["states"]["written"]
    assert (written["qps"], written["burst"]) == (50.0, 80)
    assert rec["server"]["client_qps"] > 100  # the recommendation, not applied
    svg = rp.figures_svg(figures, title="c")
    ticks = [float(node.text) for node in ET.fromstring(svg).iter(f"{SVG}text")
             if node.get("text-anchor") == "middle" and re.fullmatch(r"[0-9.]+", node.text or "")
             and node.get("y") == str(300 - 52 + 16)]
    assert min(ticks) <= 50 < max(ticks)  # the x-axis includes the written 50
    report = rp.cluster_report("c", rec, rendered, figures=figures)
    assert "- What the values set: 50/80 QPS/burst, pages of 500, yours kept" in report
    assert "with the recommendation)" in section(report, "Predicted effect")
    assert "- Plugins inherit the server's QPS/burst the values set (50/80, Velero 1.15+)" in report
    line = next(line for line in rp.fleet_report([rp.fleet_summary("c", rec, rendered)]).splitlines()
                if line.startswith("| c |"))
    assert "100/100 -> 50/80 (yours; tuned" in line


def test_the_fleet_page_size_falls_back_as_qps_and_burst_do():
    """An unset page size is Velero's default 500 (what the server runs with), never the recommendation."""
    rec, rendered, _figures = render("large-at-bound")
    assert rec["server"]["client_page_size"] == 1000
    without = {**rendered, "written": {**rendered["written"], "client_page_size": None}}
    row = rp.fleet_summary("c", rec, without)
    assert row["client_page_size"] == 500 == rec["velero_defaults"]["server.client_page_size"]
    line = next(line for line in rp.fleet_report([row]).splitlines() if line.startswith("| c |"))
    assert "| 500 (yours; tuned 1000) |" in line
    kept = rp.fleet_summary("c", *render("user-page-wins")[:2])
    assert kept["client_page_size"] == 500 and kept["recommended_client_page_size"] == 1000
    ok = rp.fleet_summary("c", rec, rendered)
    assert ok["client_page_size"] == 1000
