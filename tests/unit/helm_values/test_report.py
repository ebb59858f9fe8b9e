# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""report.md, the SVG chart and fleet-report.md."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ansible_collections.velero_ops.tuning.plugins.module_utils import _api_load as api
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
    assert rows["server.client_qps"][1:3] == ["100 (Velero 1.16.2 default)", "300 (not applied: you keep 50)"]
    # The user's QPS 50 is kept: the effect is that of what is written (50/400), not of the recommendation.
    states = rp.report_figures(rec, rendered)["states"]
    assert (states["written"]["qps"], states["written"]["burst"]) == (50.0, 400)
    assert rows["server.client_qps"][3] == (
        f"client-side throttling per full backup {rp._seconds(states['default']['throttle_seconds'])} -> "
        f"{rp._seconds(states['written']['throttle_seconds'])}; modeled API phase "
        f"{rp._seconds(states['default']['api_seconds'])} -> {rp._seconds(states['written']['api_seconds'])} "
        "with the written values")
    assert states["written"]["api_seconds"] > states["recommended"]["api_seconds"]
    assert rows["maintenance.pod_resources"][1] == ("cpu none/none, memory none/none (request/limit) "
                                                    "(Velero 1.16.2 default)")
    # Chart 10.1.3 sets no resources: the cluster runs without requests or limits, not velero install's.
    assert rows["server.resources"][1] == "none (chart 10.1.3 values.yaml `resources: {}`)"
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
@example([(1.0, 5e-324)])  # a subnormal time once broke the tick step (log10 of 0)
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


def test_fleet_report_shows_the_users_values_and_their_throttling_when_they_won():
    rec = recommend({"velero_version": "1.17.1", "cluster": {"namespaces": 45, "objects": 30000,
                                                             "resource_types": 380, "nodes": 8},
                     "data": {"volume_bytes": "1.2Ti", "repositories": 15}, "policy": {"target_api_seconds": 3}})
    assert rec["server"]["client_qps"] > 100
    rendered = hv.render_values(rec, "11.4.0", overrides={"configuration": {"clientQPS": 50, "clientBurst": 80}},
                                user_wins=True)
    row = rp.fleet_summary("c", rec, rendered)
    assert (row["client_qps"], row["client_burst"]) == (50.0, 80.0)
    # The throttling of what is written (50/80), not of the tuned rate that was not applied.
    breakdown = rec["predicted"]["api_requests_breakdown"]
    assert row["throttle_seconds_written"] == pytest.approx(api.server_throttle_from_breakdown(breakdown, 50.0, 80))
    assert row["throttle_seconds_written"] > rec["predicted"]["throttle_seconds_default"] > \
        rec["predicted"]["throttle_seconds_recommended"]
    line = next(line for line in rp.fleet_report([row]).splitlines() if line.startswith("| c |"))
    assert "100/100 -> 50/80 (yours; tuned" in line
    assert f"-> {rp._seconds(row['throttle_seconds_written'])} |" in line
    report = rp.cluster_report("c", rec, rendered)
    assert "- What the values set: 50/80 QPS/burst, pages of 500, yours kept (Velero's defaults: 100/100" in report
    assert f"{rp._seconds(row['throttle_seconds_written'])} with the written values" in report


def test_fleet_report_shows_the_largest_maintenance_entry_next_to_the_global_one():
    rec = make_recommendation("1.15.2", repositories={
        "small-default-kopia": {"pod_resources": {"cpuRequest": "1", "cpuLimit": "2", "memoryRequest": "2Gi",
                                                  "memoryLimit": "3Gi"}},
        "opensearch-default-kopia": {"pod_resources": {"cpuRequest": "1", "cpuLimit": "2", "memoryRequest": "17Gi",
                                                       "memoryLimit": "31Gi"}}})
    row = rp.fleet_summary("c", rec, hv.render_values(rec, "8.7.2"))
    assert row["maintenance_memory"] == "global 4Gi/8Gi; opensearch-default-kopia 17Gi/31Gi"


def test_report_defaults_are_what_the_chart_installs():
    rec = make_recommendation("1.13.2")
    rows = {r[0]: r for r in table_rows(rp.cluster_report("c", rec, hv.render_values(rec, "6.6.0")), "Tuned values")}
    assert rows["server.resources"][1] == ("cpu 500m/1000m, memory 128Mi/512Mi (request/limit) (chart 6.6.0 "
                                           "values.yaml `resources`)")
    rows = {r[0]: r for r in table_rows(rp.cluster_report("c", rec, hv.render_values(rec, "6.7.0")), "Tuned values")}
    assert rows["node_agent.resources"][1] == "none (chart 6.7.0 values.yaml `nodeAgent.resources: {}`)"
    assert rows["server.client_qps"][1] == "20 (Velero 1.13.2 default)"


# ---------------------------------------------------------------------------------------------------------
# Fleet rows across runs (--limit)

def _row(cluster: str, qps: float = 100.0, status: str = "ok") -> dict:
    return {"cluster": cluster, "status": status, "client_qps": qps}


def test_rows_of_hosts_left_out_are_carried_with_their_date():
    first = rp.merge_fleet_rows([_row("a"), _row("b"), _row("c")], None, ["a", "b", "c"], "2026-01-02")
    assert {row["run_date"] for row in first} == {"2026-01-02"}
    second = rp.merge_fleet_rows([_row("b", 200.0)], first, ["a", "b", "c", "d"], "2026-02-03")
    rows = {row["cluster"]: row for row in second}
    assert rows["a"] == {**_row("a"), "run_date": "2026-01-02", "earlier_run": True}
    assert rows["b"] == {**_row("b", 200.0), "run_date": "2026-02-03"}
    assert rows["d"] == {"cluster": "d", "status": "not-run"}
    text = rp.fleet_report(second)
    assert "4 clusters: 1 tuned, 0 failed. 2 not in this run (--limit)" in text and "1 not tuned yet." in text
    assert "| a | tuned (earlier run, 2026-01-02) |" in text and "| d | not tuned yet |" in text
    # Carried again: still the date of the run that made it. Gone from the inventory: dropped.
    third = rp.merge_fleet_rows([_row("b", 200.0)], second, ["a", "b"], "2026-03-04")
    assert [(row["cluster"], row["run_date"], row.get("earlier_run")) for row in third] == [
        ("a", "2026-01-02", True), ("b", "2026-02-03", None)]


def test_an_unchanged_rerun_keeps_the_dates_so_no_file_changes():
    first = rp.merge_fleet_rows([_row("a")], None, ["a"], "2026-01-02")
    again = rp.merge_fleet_rows([_row("a")], rp.read_fleet_sidecar(rp.fleet_sidecar(first)), ["a"], "2026-05-06")
    assert rp.fleet_sidecar(again) == rp.fleet_sidecar(first)


def test_failed_rows_from_an_earlier_run_stay_listed():
    first = rp.merge_fleet_rows([{"cluster": "a", "status": "failed", "message": "boom"}], None, ["a", "b"],
                                "2026-01-02")
    text = rp.fleet_report(rp.merge_fleet_rows([_row("b")], first, ["a", "b"], "2026-01-03"))
    assert "| a | FAILED (earlier run, 2026-01-02) |" in text
    assert table_rows(text, "Failed clusters") == [["a (earlier run, 2026-01-02)", "boom"]]


@pytest.mark.parametrize("text", ["{", "[]", '{"version": 9, "rows": []}', '{"version": 1, "rows": {}}'])
def test_a_broken_sidecar_is_refused(text):
    with pytest.raises(ValueError):
        rp.read_fleet_sidecar(text)


def test_fleet_report_of_nothing():
    assert "0 clusters: 0 tuned, 0 failed." in rp.fleet_report([])
