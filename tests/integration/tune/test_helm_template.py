# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Opt-in: render the written values with the real chart and a real `helm template`, for every chart given.

    HELM_BIN=/path/to/helm VELERO_CHARTS_DIR=/path/to/charts pytest tests/integration/tune/test_helm_template.py

VELERO_CHARTS_DIR holds one extracted chart per release, named by its version (`<dir>/12.1.0/Chart.yaml`), e.g.
`git -C <helm-charts git dir> archive velero-12.1.0 charts/velero | tar -x -C <dir>/12.1.0 --strip-components=2`.
Without both variables the tests skip: CI needs neither helm nor chart code (docs/helm-values.md, "Checking
against the real chart").
"""

from __future__ import annotations

import collections
import os
import subprocess
import typing as t
from pathlib import Path

import pytest
import yaml

from ansible_collections.velero_ops.tuning.plugins.module_utils import _chart_eras as eras
from ansible_collections.velero_ops.tuning.plugins.module_utils import _helm_values as hv
from ansible_collections.velero_ops.tuning.plugins.module_utils import _values_plan as values_plan
from ansible_collections.velero_ops.tuning.plugins.module_utils import _values_schema as values_schema
from ansible_collections.velero_ops.tuning.plugins.module_utils._recommend import recommend

HELM = os.environ.get("HELM_BIN")
CHARTS = Path(os.environ["VELERO_CHARTS_DIR"]) if os.environ.get("VELERO_CHARTS_DIR") else None
SUPPORTED = {chart for era in eras.ERAS for chart in era.releases}


def _charts() -> list[str]:
    if not HELM or CHARTS is None or not CHARTS.is_dir():
        return []
    found = [path.name for path in CHARTS.iterdir() if (path / "Chart.yaml").is_file() and path.name in SUPPORTED]
    return sorted(found, key=lambda v: tuple(int(p) for p in v.split(".")))


pytestmark = pytest.mark.skipif(not _charts(), reason="set HELM_BIN and VELERO_CHARTS_DIR (extracted charts, "
                                                      "one directory per chart version) to render the real charts")
RELEASE = "myrel"
# Big enough for every route: per-repository maintenance, node-agent and backup-repository ConfigMaps, a
# non-default maintenance frequency, a page size of 1000 and QPS above the default.
INPUTS = {"cluster": {"namespaces": 300, "objects": 2_000_000, "resource_types": 300, "nodes": 20},
          "data": {"volume_bytes": "20Ti", "files": 300_000_000, "repositories": 50, "largest_repository_bytes": "10Ti",
                   "largest_repository_key": "big-default-kopia", "index_blobs": 5000, "backups_per_day": 4,
                   "backups_retained": 60}}
# Overrides a user might have: node-agent on, their own configMaps entry without labels (charts up to 8.6.0 fail
# on it in NOTES.txt unless the renderer adds labels: {}).
USER = {"deployNodeAgent": True, "configMaps": {"fs-restore-action-config": {"data": {"image": "velero/velero"}}}}


def helm_template(chart: str, values: str, tmp_path: Path) -> list[dict[str, t.Any]]:
    path = tmp_path / f"values-{chart}.yaml"
    path.write_text(values)
    done = subprocess.run([t.cast(str, HELM), "template", RELEASE, str(t.cast(Path, CHARTS) / chart),
                           "--namespace", "velero", "-f", str(path)], capture_output=True, text=True, check=False,
                          timeout=120)
    assert done.returncode == 0, f"helm template of chart {chart} failed:\n{done.stderr}\n--- values:\n{values}"
    assert "e+0" not in done.stdout, "a number reached the manifests in exponent form"
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def _args(docs: list[dict[str, t.Any]], kind: str) -> list[str]:
    for doc in docs:
        if doc.get("kind") == kind:
            return list(doc["spec"]["template"]["spec"]["containers"][0].get("args") or [])
    return []


def _flags(args: list[str]) -> dict[str, str | None]:
    return {arg.split("=", 1)[0]: (arg.split("=", 1)[1] if "=" in arg else None) for arg in args
            if arg.startswith("--")}


@pytest.mark.parametrize("chart", _charts() or ["none"])
def test_the_real_chart_renders_what_the_values_say(chart: str, tmp_path: Path) -> None:
    velero = eras.shipped_velero(chart)
    era = eras.chart_era(chart, velero)
    rec = recommend({"velero_version": velero, **INPUTS})
    rendered = hv.render_values(rec, chart, overrides=USER, release_name=RELEASE)
    docs = helm_template(chart, rendered["values_yaml"], tmp_path)
    server = _args(docs, "Deployment")
    node = _args(docs, "DaemonSet")
    for args in (server, node):
        names = [arg.split("=", 1)[0] for arg in args if arg.startswith("--")]
        twice = [name for name, count in collections.Counter(names).items() if count > 1]
        assert not twice, f"chart {chart}: {twice} on the command line twice: {args}"
    flags = _flags(server)
    written = rendered["written"]
    assert flags["--client-qps"] == str(values_plan.describe(written["client_qps"]))
    assert flags["--client-burst"] == str(written["client_burst"])
    assert flags["--client-page-size"] == str(written["client_page_size"])
    assert flags["--uploader-type"] == rendered["uploader"]
    frequency = rec["maintenance"]["frequency"]
    assert ("--default-repo-maintain-frequency" in flags) is (rendered["uploader"] == "kopia" and frequency != "1h")
    values_schema.check_flags(rendered["values"], era, velero)
    names = {doc["metadata"]["name"]: doc for doc in docs if doc.get("kind") == "ConfigMap"}
    # Every ConfigMap a flag names exists in the manifests.
    for flag in ("--repo-maintenance-job-configmap", "--backup-repository-configmap"):
        if flag in flags:
            assert flags[flag] in names, f"{flag}={flags[flag]} names no rendered ConfigMap"
    node_flags = _flags(node)
    if "--node-agent-configmap" in node_flags:
        assert node_flags["--node-agent-configmap"] in names
    if any(p["location"].startswith("extraObjects: ConfigMap node-agent-config") for p in rendered["placements"]):
        assert "node-agent-config" in names  # the fixed name Velero 1.13/1.14 read
    _check_maintenance(era, rec, flags, names)
    if era.maintenance == "server-resources":
        deployment = next(doc for doc in docs if doc.get("kind") == "Deployment")
        resources = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]
        assert resources["limits"]["memory"] == rec["server"]["resources"]["limits"]["memory"]


def _check_maintenance(era: eras.ChartEra, rec: dict[str, t.Any], flags: dict[str, str | None],
                       config_maps: dict[str, dict[str, t.Any]]) -> None:
    pod = rec["maintenance"]["pod_resources"]
    if era.maintenance in ("server-flags", "chart-keys"):
        assert flags["--maintenance-job-mem-limit"] == pod["memoryLimit"]
        assert flags["--maintenance-job-cpu-request"] == pod["cpuRequest"]
        assert flags["--keep-latest-maintenance-jobs"] == str(rec["maintenance"]["keep_latest_jobs"])
    elif era.maintenance == "config-data":
        data = config_maps[t.cast(str, flags["--repo-maintenance-job-configmap"])]["data"]
        assert yaml.safe_load(data["global"])["podResources"]["memoryLimit"] == pod["memoryLimit"]
        for key, entry in rec["maintenance"]["repositories"].items():
            assert yaml.safe_load(data[key])["podResources"] == entry["pod_resources"]
        assert not any(flag.startswith("--maintenance-job-") for flag in flags)


@pytest.mark.parametrize("chart", [c for c in _charts() if eras.chart_default_uploader(c) == "restic"] or ["none"])
def test_restic_charts_get_no_maintenance_frequency(chart: str, tmp_path: Path) -> None:
    if chart == "none":
        pytest.skip("no chart before 5.4.1 in VELERO_CHARTS_DIR")
    rec = recommend({"velero_version": eras.shipped_velero(chart), **INPUTS})
    assert rec["maintenance"]["frequency"] != "1h"
    flags = _flags(_args(helm_template(chart, hv.render_values(rec, chart)["values_yaml"], tmp_path), "Deployment"))
    assert flags["--uploader-type"] == "restic" and "--default-repo-maintain-frequency" not in flags


@pytest.mark.parametrize("chart", [c for c in _charts() if eras.chart_era(c).legacy_maintenance_keys_dropped]
                         or ["none"])
@pytest.mark.parametrize("user_wins", [False, True])
def test_chart_10_1_legacy_maintenance_values_are_not_dropped_silently(chart: str, user_wins: bool,
                                                                       tmp_path: Path) -> None:
    if chart == "none":
        pytest.skip("no chart 10.1.x in VELERO_CHARTS_DIR")
    rec = recommend({"velero_version": eras.shipped_velero(chart), **INPUTS})
    legacy = {"configuration": {"repositoryMaintenanceJob": {"limits": {"memory": "6Gi"}, "latestJobsCount": 1},
                                "extraArgs": ["--maintenance-job-mem-request=3Gi"]}}
    rendered = hv.render_values(rec, chart, overrides=legacy, user_wins=user_wins)
    docs = helm_template(chart, rendered["values_yaml"], tmp_path)
    flags = _flags(_args(docs, "Deployment"))
    names = {doc["metadata"]["name"]: doc for doc in docs if doc.get("kind") == "ConfigMap"}
    pod = yaml.safe_load(names[t.cast(str, flags["--repo-maintenance-job-configmap"])]["data"]["global"])[
        "podResources"]
    if user_wins:
        assert (pod["memoryRequest"], pod["memoryLimit"], pod["cpuRequest"], pod["cpuLimit"]) == ("3Gi", "6Gi", "0",
                                                                                                  "0")
        assert flags["--keep-latest-maintenance-jobs"] == "1"
    else:
        assert pod == rec["maintenance"]["pod_resources"]
        assert flags["--keep-latest-maintenance-jobs"] == str(rec["maintenance"]["keep_latest_jobs"])
    assert not any(flag.startswith("--maintenance-job-") for flag in flags)
