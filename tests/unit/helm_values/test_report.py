# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""report.md, the SVG chart and fleet-report.md."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.velero_ops.tuning.plugins.module_utils import _helm_values as hv
from ansible_collections.velero_ops.tuning.plugins.module_utils import _report as rp
from ansible_collections.velero_ops.tuning.plugins.module_utils import _svg
from ansible_collections.velero_ops.tuning.plugins.module_utils._recommend import recommend

from conftest import make_recommendation  # noqa: E402

SVG = "{http://www.w3.org/2000/svg}"
FIELD_REPORT = {"velero_version": "1.14.0",
                "cluster": {"namespaces": 140, "objects": 52000, "resource_types": 320, "nodes": 18, "volumes": 22},
                "data": {"volume_bytes": "763GB", "repositories": 9, "largest_repository_bytes": "700GB",
                         "largest_repository_key": "analytics-default-kopia", "index_blobs": 2438,
                         "backups_per_day": 24, "backups_retained": 168}}


def table_rows(markdown: str, heading: str) -> list[list[str]]:
    section = markdown.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows[2:]]


def test_report_has_every_tuned_value_with_default_recommendation_why_and_effect():
    rec = make_recommendation("1.16.2", repositories={"apps-default-kopia": {"pod_resources": {
        "cpuRequest": "1", "cpuLimit": "2", "memoryRequest": "6Gi", "memoryLimit": "12Gi"}}})
    rendered = hv.render_values(rec, "10.1.3", overrides={"configuration": {"clientQPS": 50}},
                                user_wins=["configuration.clientQPS"])
    report = rp.cluster_report("payments", rec, rendered)
    rows = {row[0]: row for row in table_rows(report, "Tuned values")}
    assert set(rows) == {p["item"] for p in rendered["placements"]}
    assert rows["server.client_qps"][1:3] == ["100", "300 (not applied: you keep 50)"]
    assert "throttling per full backup 3m40s -> 40s" in rows["server.client_qps"][3]
    assert rows["maintenance.pod_resources"][1] == "cpu none/none, memory none/none (request/limit)"
    assert rows["maintenance.pod_resources"][2] == "cpu 500m/2, memory 4Gi/8Gi (request/limit)"
    assert rows["maintenance.repositories.apps-default-kopia"][4].endswith(".apps-default-kopia.podResources")
    why = report.split("## Why\n", 1)[1].split("\n## ", 1)[0]
    assert "- **server.client_qps**: 5000 namespaces" in why
    assert "**maintenance.repositories.apps-default-kopia**: the largest repository gets its own" in why
    assert "![Modeled backup API time against client QPS](api-time.svg)" in report
    assert "[values.yaml](values.yaml)" in report
    assert table_rows(report, "Conflicts with your values") == [["configuration.clientQPS", "50", "300", "yours"]]
    assert "- kopia reported 2438 index blobs" in report
    assert "## Assumptions" in report and "## Drift" not in report


def test_report_shows_drift_from_cluster_facts():
    rec = make_recommendation("1.18.1")
    rendered = hv.render_values(rec, "12.1.0")
    facts = {"drift": [{"setting": "server.client_qps", "current": 100.0, "recommended": 300.0,
                        "velero_default": 100.0, "source": "Velero default", "explanation": "x | y"}],
             "partial": True, "errors": [{"what": "count pvs", "message": "forbidden"}]}
    report = rp.cluster_report("c", rec, rendered, facts=facts, svg_file=None)
    drift = report.split("## Drift (live cluster against the recommendation)\n", 1)[1]
    assert "| setting | current | recommended | velero_default | source |" in drift
    assert "| server.client_qps | 100 | 300 | 100 | Velero default |" in drift
    assert "Live facts are partial" in drift
    assert "- count pvs: forbidden" in drift
    generic = rp.cluster_report("c", rec, rendered, facts={"drift": [{"a": "x | y"}]})
    assert "| a |" in generic and "| x \\| y |" in generic
    assert "![" not in report


def test_report_with_the_real_sizing_model_for_the_field_report_case():
    rec = recommend(FIELD_REPORT)
    rendered = hv.render_values(rec, "7.1.1", cluster_name="gke-analytics-prod")
    report = rp.cluster_report("gke-analytics-prod", rec, rendered)
    assert "Velero 1.14.0 on Helm chart 7.1.1" in report
    rows = {row[0]: row for row in table_rows(report, "Tuned values")}
    assert rows["maintenance.pod_resources"][4].startswith("configuration.extraArgs: --maintenance-job-")
    # Velero 1.14 cannot size per repository: the global Job size is the 700 GB repository's.
    assert rec["maintenance"]["repositories"] == {}
    big = rec["maintenance"]["pod_resources"]
    assert f"--maintenance-job-mem-limit={big['memoryLimit']}" in rendered["values"]["configuration"]["extraArgs"]
    assert "analytics-default-kopia" in "\n".join(rec["warnings"])
    assert "plugins stay at client-go's 5/10" in report.lower()


def test_report_is_deterministic():
    rec = make_recommendation("1.17.1")
    rendered = hv.render_values(rec, "11.4.0")
    assert rp.cluster_report("c", rec, rendered) == rp.cluster_report("c", rec, rendered)


def test_defaults_and_explanations_from_leaf_paths():
    rec = {"velero_defaults": {"server.resources.requests.cpu": "500m", "server.resources.limits.cpu": "1"},
           "explanations": {"server.resources.requests.cpu": "a", "server.resources.limits.cpu": "b",
                            "maintenance.repositories": "own entry"}}
    assert rp.default_for(rec, "server.resources") == {"requests": {"cpu": "500m"}, "limits": {"cpu": "1"}}
    assert rp.explanations_for(rec, "server.resources") == ["requests.cpu: a", "limits.cpu: b"]
    assert rp.explanations_for(rec, "maintenance.repositories.x-y-kopia") == ["own entry"]
    assert rp.explanations_for(rec, "nothing") == []


# ---------------------------------------------------------------------------------------------------------
# SVG

def test_svg_marks_default_and_recommended_points():
    rec = make_recommendation("1.16.2")
    text = _svg.api_time_svg(rec["predicted"]["api_time_curve"], 100.0, 300.0, title="c: API time")
    root = ET.fromstring(text)
    assert root.tag == f"{SVG}svg"
    titles = [el.text for el in root.iter(f"{SVG}title")]
    assert "Velero default: 100 QPS, 240 s" in titles
    assert "recommended: 300 QPS, 80 s" in titles
    points = root.find(f"{SVG}polyline").get("points").split()
    xs = [float(p.split(",")[0]) for p in points]
    ys = [float(p.split(",")[1]) for p in points]
    assert xs == sorted(xs) and ys == sorted(ys)  # more QPS, less time (SVG y grows downwards)
    assert "(log scale)" in text  # 20 .. 1000 QPS


@given(st.lists(st.tuples(st.floats(min_value=0.5, max_value=1e5), st.floats(min_value=0, max_value=1e6)),
                min_size=1, max_size=20))
def test_svg_is_well_formed_for_any_curve(points):
    curve = [{"qps": q, "burst": 1, "seconds": s} for q, s in points]
    text = _svg.api_time_svg(curve, points[0][0], points[-1][0], title="t <&>")
    ET.fromstring(text)
    assert "nan" not in text.lower() and "inf" not in text.lower()


@pytest.mark.parametrize("curve", [[], None, [{"qps": 0, "seconds": 1}], [{"qps": "x", "seconds": 1}]])
def test_svg_rejects_bad_curves(curve):
    with pytest.raises(ValueError, match="predicted.api_time_curve"):
        _svg.api_time_svg(curve, 1, 2, title="t")


def test_interpolation_is_clamped_and_log_linear():
    curve = [{"qps": 10, "seconds": 100}, {"qps": 1000, "seconds": 0}]
    assert _svg.interpolate(curve, 1) == 100 and _svg.interpolate(curve, 5000) == 0
    assert _svg.interpolate(curve, 100) == pytest.approx(50)


# ---------------------------------------------------------------------------------------------------------
# Fleet report

def test_fleet_report_one_row_per_cluster_and_failures_with_their_message():
    rec = make_recommendation("1.18.1")
    rendered = hv.render_values(rec, "12.1.0")
    ok = rp.fleet_summary("b-cluster", rec, rendered, report_path="b-cluster/report.md")
    failed = {"cluster": "a-cluster", "status": "failed", "message": "chart 12.1.0 ships 1.18.1 | not 1.14"}
    text = rp.fleet_report([ok, failed])
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    assert lines[2].startswith("| a-cluster | FAILED | - | - |")
    assert lines[3].startswith("| b-cluster | tuned | 1.18.1 | 12.1.0 | 100/100 -> 300/400 | 1000 |")
    assert "[report](b-cluster/report.md)" in lines[3]
    assert "2 clusters: 1 tuned, 1 failed." in text
    assert table_rows(text, "Failed clusters") == [["a-cluster", "chart 12.1.0 ships 1.18.1 \\| not 1.14"]]


def test_fleet_report_shows_the_users_values_when_they_won():
    rec = make_recommendation("1.17.1")
    rendered = hv.render_values(rec, "11.4.0", overrides={"configuration": {"clientQPS": 50}}, user_wins=True)
    row = rp.fleet_summary("c", rec, rendered)
    assert row["client_qps"] == 50 and row["recommended_client_qps"] == 300.0
    assert "100/100 -> 50/400 (yours; tuned 300/400)" in rp.fleet_report([row])


def test_fleet_report_of_nothing():
    assert "0 clusters: 0 tuned, 0 failed." in rp.fleet_report([])
