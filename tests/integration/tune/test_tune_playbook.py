# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/tune.yml on a temporary copy of the bundled example fleet, as a user runs it.

ansible-core 2.19 has no JSON stdout callback, so runs use the default callback and the tests read the
PLAY RECAP and the files the playbook writes.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import typing as t
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from support.ansible_run import REPO_ROOT, PlaybookRun, run_playbook

pytestmark = pytest.mark.slow

TUNE = REPO_ROOT / "playbooks" / "tune.yml"
EXAMPLES = REPO_ROOT / "examples"
HOSTS = ["gke-analytics-prod", "eks-payments-prod", "aks-platform-prod", "aks-platform-staging",
         "eks-search-staging", "edge-store-0421", "gke-ml-dev"]
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)"
                   r"\s+rescued=(\d+)\s+ignored=(\d+)", re.M)
DEFAULT_CALLBACK = {"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default", "ANSIBLE_FORCE_COLOR": "0"}


def recap(run: PlaybookRun) -> dict[str, dict[str, int]]:
    names = ("ok", "changed", "unreachable", "failed", "skipped", "rescued", "ignored")
    return {m.group(1): dict(zip(names, map(int, m.groups()[1:]))) for m in RECAP.finditer(run.stdout)}


def failed_hosts(run: PlaybookRun) -> set[str]:
    return {host for host, stats in recap(run).items() if stats["failed"] or stats["unreachable"]}


def changed(run: PlaybookRun) -> int:
    return sum(stats["changed"] for stats in recap(run).values())


def tune(inventory: Path, out: Path, **kwargs: t.Any) -> PlaybookRun:
    extra = {"tune_output_dir": str(out), **kwargs.pop("extra_vars", {})}
    run = run_playbook(TUNE, inventory, extra_vars=extra, env=DEFAULT_CALLBACK, **kwargs)
    assert "Traceback" not in run.stdout + run.stderr, run.stdout[-3000:] + run.stderr[-3000:]
    return run


def explain(run: PlaybookRun) -> str:
    return f"rc={run.returncode}\n{run.stdout[-5000:]}\n{run.stderr[-3000:]}"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, PlaybookRun]:
    """A copy of examples/ (inventory, group_vars, host_vars, overrides) and one run over all of it."""
    base = tmp_path_factory.mktemp("tune")
    shutil.copytree(EXAMPLES, base / "examples")
    inventory = base / "examples" / "inventory.yml"
    # Modules run with this Python (the test venv), as with `make demo`.
    (base / "examples" / "group_vars" / "all.yml").write_text(
        (EXAMPLES / "group_vars" / "all.yml").read_text() + f"ansible_python_interpreter: {sys.executable}\n")
    out = base / "out"
    run = tune(inventory, out)
    return inventory, out, run


def test_every_cluster_gets_values_report_and_chart(fleet):
    inventory, out, run = fleet
    assert run.returncode == 0, explain(run)
    assert set(recap(run)) == set(HOSTS)
    for host in HOSTS:
        values = yaml.safe_load((out / host / "values.yaml").read_text())
        assert values["configuration"]["clientQPS"] is not None
        report = (out / host / "report.md").read_text()
        assert report.startswith(f"# Velero tuning report: {host}\n")
        assert "](api-time.svg)" in report and "## Tuned values" in report and "## Why" in report
        assert ET.fromstring((out / host / "api-time.svg").read_text()).tag.endswith("svg")
    fleet_report = (out / "fleet-report.md").read_text()
    assert "7 clusters: 7 tuned, 0 failed." in fleet_report
    # Without --diff no file diff is printed (nor computed).
    assert "+++ after: " not in run.stdout, explain(run)
    for host in HOSTS:
        assert f"| {host} | tuned |" in fleet_report and f"[report]({host}/report.md)" in fleet_report


def test_values_follow_each_clusters_chart_era(fleet):
    _inventory, out, _run = fleet

    def values(host: str) -> dict[str, t.Any]:
        return yaml.safe_load((out / host / "values.yaml").read_text())

    # The field report: Velero 1.14.0 on chart 7.1.1 has no maintenance keys -> server flags via extraArgs.
    analytics = values("gke-analytics-prod")
    assert any(arg.startswith("--maintenance-job-mem-limit=") for arg in analytics["configuration"]["extraArgs"])
    assert analytics["image"]["tag"] == "v1.14.0"  # the overrides file stays
    assert analytics["schedules"]["hourly"]["schedule"] == "0 * * * *"
    # Chart 10.1.3: repositoryConfigData only (the legacy keys would be dropped), keep-latest as a flag.
    payments = values("eks-payments-prod")
    job = payments["configuration"]["repositoryMaintenanceJob"]
    assert set(job) == {"repositoryConfigData"}
    pod_fields = {"cpuRequest", "cpuLimit", "memoryRequest", "memoryLimit"}
    assert set(job["repositoryConfigData"]["global"]["podResources"]) == pod_fields
    assert "--keep-latest-maintenance-jobs=3" in payments["configuration"]["extraArgs"]
    assert "--item-block-worker-count=2" in payments["configuration"]["extraArgs"]
    assert payments["nodeAgent"]["tolerations"][0]["key"] == "dedicated"
    # Chart 8.7.2 with release velero-search: chart keys for the Job; ConfigMaps are named after the release.
    search = values("eks-search-staging")
    assert set(search["configuration"]["repositoryMaintenanceJob"]) == {"requests", "limits", "latestJobsCount"}
    for arg in search["configuration"].get("extraArgs", []) + search.get("nodeAgent", {}).get("extraArgs", []):
        assert "=velero-search-" in arg, arg
    # Chart 6.7.0 (Velero 1.13): no maintenance keys at all, the server is sized instead.
    assert "repositoryMaintenanceJob" not in values("aks-platform-staging")["configuration"]
    # The user kept their own QPS on gke-ml-dev.
    assert values("gke-ml-dev")["configuration"]["clientQPS"] == 50
    assert "(yours; tuned" in (out / "fleet-report.md").read_text()


def test_second_run_changes_nothing(fleet):
    inventory, out, _run = fleet
    before = {path: path.read_bytes() for path in out.rglob("*") if path.is_file()}
    run = tune(inventory, out)
    assert run.returncode == 0, explain(run)
    assert changed(run) == 0, explain(run)
    assert {path: path.read_bytes() for path in out.rglob("*") if path.is_file()} == before


def test_check_mode_writes_nothing_and_shows_the_diff(fleet, tmp_path):
    inventory, _out, _run = fleet
    out = tmp_path / "out"
    run = tune(inventory, out, check=True, diff=True, limit="gke-analytics-prod,gke-ml-dev")
    assert run.returncode == 0, explain(run)
    assert not out.exists()
    assert f"+++ after: {out}/gke-analytics-prod/values.yaml" in run.stdout
    assert "+  clientQPS: " in run.stdout
    assert f"+++ after: {out}/fleet-report.md" in run.stdout
    assert changed(run) > 0


def test_check_mode_on_existing_files_diffs_only_what_changes(fleet):
    inventory, out, _run = fleet
    run = tune(inventory, out, check=True, diff=True, limit="eks-payments-prod",
               extra_vars={"velero_values_overrides": {"configuration": {"logLevel": "debug"}}})
    assert run.returncode == 0, explain(run)
    assert "+  logLevel: debug" in run.stdout
    assert "logLevel" not in (out / "eks-payments-prod" / "values.yaml").read_text()


@pytest.fixture
def bad_fleet(fleet, tmp_path) -> Path:
    inventory, _out, _run = fleet
    base = inventory.parent
    (base / "overrides" / "broken.yaml").write_text("configuration:\n  clientQPS: 300\n   clientBurst: 2\n")
    data = yaml.safe_load(inventory.read_text())
    common = {"velero_cluster": {"namespaces": 10, "objects": 2000, "resource_types": 150},
              "velero_data": {"volume_bytes": "100Gi"}}
    data["all"]["children"]["broken"] = {"hosts": {
        "wrong-chart": {"velero_version": "1.14.0", "velero_chart_version": "12.1.0", **common},
        "broken-overrides": {"velero_version": "1.16.2", "velero_chart_version": "10.1.3",
                             "velero_values_overrides": "overrides/broken.yaml", **common},
        "mis-indented": {"velero_version": "1.18.1", "velero_chart_version": "12.1.0", **common,
                         "velero_values_overrides": {"configuration": {"features": "EnableCSI"},
                                                     "clientQPS": 300}},
        "strict-chart": {"velero_version": "1.18.2", "velero_chart_version": "12.2.0", "velero_chart_strict": True,
                         **common},
    }}
    bad = base / "bad-inventory.yml"
    bad.write_text(yaml.safe_dump(data))
    return bad


def test_bad_hosts_fail_alone_with_a_clear_message_and_no_files(bad_fleet, tmp_path):
    out = tmp_path / "out"
    run = tune(bad_fleet, out, limit="broken,edge-store-0421")
    assert run.returncode != 0
    assert failed_hosts(run) == {"wrong-chart", "broken-overrides", "mis-indented", "strict-chart"}, explain(run)
    assert (out / "edge-store-0421" / "values.yaml").exists()
    for host in ("wrong-chart", "broken-overrides", "mis-indented", "strict-chart"):
        assert not (out / host).exists(), host
    fleet_report = (out / "fleet-report.md").read_text()
    # The report covers the whole inventory: the example clusters left out by --limit were never tuned here.
    assert "11 clusters: 1 tuned, 4 failed. 6 not tuned yet." in fleet_report
    assert "| gke-ml-dev | not tuned yet |" in fleet_report
    expected = {
        "wrong-chart": "chart 12.1.0 ships Velero 1.18.1, not Velero 1.14.0; Velero 1.14 ships with chart 7.0.0 "
                       "to 7.2.2",
        "broken-overrides": "broken.yaml is not valid YAML at line 3, column 15",
        "mis-indented": "unknown key 'clientQPS' (at the top level) for chart 12.0.0 to 12.1.0; it belongs at "
                        "configuration.clientQPS (mis-indented?)",
        "strict-chart": "chart 12.2.0 is newer than the newest chart release this collection knows (12.1.0) and "
                        "velero_chart_strict is true, so it is refused",
    }
    failed_section = fleet_report.split("## Failed clusters", 1)[1]
    for host, message in expected.items():
        row = next(line for line in failed_section.splitlines() if line.startswith(f"| {host} |"))
        assert message in row, row
        assert message in run.stdout


def test_newer_chart_renders_with_a_warning_and_a_new_major_fails_alone(fleet, tmp_path):
    """Chart 12.2.0 ships Velero 1.18.2 (a dependency bot's bump): rendered with the 12.0.0-12.1.0 rules and a
    warning that names the assumption; the same cluster on 1.18.2 sizes like 1.18.0 (cross-namespace listing)."""
    inventory, _out, _run = fleet
    data = yaml.safe_load(inventory.read_text())
    common = {"velero_cluster": {"namespaces": 2500, "objects": 400000, "resource_types": 200,
                                 "namespaced_resource_types": 150},
              "velero_data": {"volume_bytes": "2Ti"}}
    data["all"]["children"]["newer"] = {"hosts": {
        "newer-chart": {"velero_version": "1.18.2", "velero_chart_version": "12.2.0", **common},
        "known-chart": {"velero_version": "1.18.0", "velero_chart_version": "12.0.1", **common},
        "new-major": {"velero_version": "1.18.2", "velero_chart_version": "13.0.0", **common},
    }}
    newer_inventory = inventory.parent / "newer-inventory.yml"
    newer_inventory.write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    run = tune(newer_inventory, out, limit="newer")
    assert failed_hosts(run) == {"new-major"}, explain(run)
    warning = ("newer-chart: chart 12.2.0 is newer than the newest chart release this collection knows (12.1.0): "
               "rendered with the rules and strict schema of chart 12.0.0-12.1.0 (Velero 1.18)")
    assert warning in " ".join((run.stdout + run.stderr).split()), explain(run)
    report = (out / "newer-chart" / "report.md").read_text()
    assert "chart 12.2.0 is newer than the newest chart release this collection knows" in " ".join(report.split())
    newer = yaml.safe_load((out / "newer-chart" / "values.yaml").read_text())
    known = yaml.safe_load((out / "known-chart" / "values.yaml").read_text())
    # 1.18.2 lists each kind once across namespaces like 1.18.0: same client settings, not the fair-share ceiling.
    assert newer["configuration"]["clientQPS"] == known["configuration"]["clientQPS"]
    assert newer["configuration"]["clientBurst"] == known["configuration"]["clientBurst"]
    assert not (out / "new-major").exists()
    assert "chart 13.0.0 is a new major release this collection does not know" in run.stdout


def test_unwritable_output_directory_fails_every_host_with_the_same_message(fleet, tmp_path):
    inventory, _out, _run = fleet
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the output directory should be\n")
    out = blocker / "out"
    run = tune(inventory, out, limit="edge-store-0421,gke-ml-dev")
    assert run.returncode != 0
    stats = recap(run)
    assert {host: stats[host]["failed"] for host in stats} == {"edge-store-0421": 1, "gke-ml-dev": 1}, explain(run)
    messages = [(host, msg) for host, msg in re.findall(r"^fatal: \[(\S+)\]: FAILED! => .*?\"msg\": \"(.*?)\"",
                                                        run.stdout, re.M) if "cannot be used" in msg]
    assert sorted(host for host, _msg in messages) == ["edge-store-0421", "gke-ml-dev"], explain(run)
    assert len({msg for _host, msg in messages}) == 1, messages
    assert f"tune_output_dir {out} cannot be used" in messages[0][1] and "Not a directory" in messages[0][1]
    # Stopped before anything was written; the fleet report step is skipped, so it cannot mask the reason.
    assert "fleet_report:" not in run.stdout
    assert "skipping: [" in run.stdout.split("TASK [Write the fleet report", 1)[1], explain(run)
    assert blocker.read_text() == "a file where the output directory should be\n"


def test_backup_keeps_the_previous_values_file(fleet, tmp_path):
    inventory, _out, _run = fleet
    out = tmp_path / "out"
    run = tune(inventory, out, limit="edge-store-0421")
    assert run.returncode == 0, explain(run)
    run = tune(inventory, out, limit="edge-store-0421",
               extra_vars={"tune_backup": True, "velero_values_overrides": {"configuration": {"logLevel": "debug"}}})
    assert run.returncode == 0, explain(run)
    backups = list((out / "edge-store-0421").glob("values.yaml.*~"))
    assert len(backups) == 1
    assert "logLevel" not in backups[0].read_text()
    assert "logLevel: debug" in (out / "edge-store-0421" / "values.yaml").read_text()


def test_live_facts_without_a_velero_version_fail_with_what_to_set(kube_server, kubeconfig_path, tmp_path):
    """velero_live_facts on a cluster where no Velero Deployment tells the version: that host asks for it."""
    for name in ("shop", "payments"):
        kube_server.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"vars": {"ansible_python_interpreter": sys.executable}, "hosts": {
        "no-velero": {"velero_live_facts": True, "velero_kubeconfig": str(kubeconfig_path),
                      "velero_chart_version": "12.1.0"}}}}))
    out = tmp_path / "out"
    run = tune(inventory, out)
    assert run.returncode != 0
    assert failed_hosts(run) == {"no-velero"}, explain(run)
    assert "the Velero version could not be read from the cluster" in run.stdout
    assert not (out / "no-velero").exists()
    assert "| no-velero | FAILED |" in (out / "fleet-report.md").read_text()


def test_limit_keeps_the_other_clusters_rows_from_the_previous_run(fleet, tmp_path):
    inventory, out, _run = fleet
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    # Pretend the full run happened on another day: the carried rows must show that run's date.
    sidecar = json.loads((copy / "fleet-report.json").read_text())
    assert {row["cluster"] for row in sidecar["rows"]} == set(HOSTS)
    for row in sidecar["rows"]:
        row["run_date"] = "2026-01-02"
    (copy / "fleet-report.json").write_text(json.dumps(sidecar))
    run = tune(inventory, copy, limit="edge-store-0421",
               extra_vars={"velero_values_overrides": {"configuration": {"logLevel": "debug"}}})
    assert run.returncode == 0, explain(run)
    report = (copy / "fleet-report.md").read_text()
    assert "7 clusters: 1 tuned, 0 failed. 6 not in this run (--limit)" in report
    assert "| edge-store-0421 | tuned | 1.12.3 |" in report
    for host in set(HOSTS) - {"edge-store-0421"}:
        row = next(line for line in report.splitlines() if line.startswith(f"| {host} |"))
        assert f"| {host} | tuned (earlier run, 2026-01-02) |" in row and f"[report]({host}/report.md)" in row
    rows = {row["cluster"]: row for row in json.loads((copy / "fleet-report.json").read_text())["rows"]}
    assert rows["gke-ml-dev"]["earlier_run"] is True and rows["gke-ml-dev"]["run_date"] == "2026-01-02"
    assert "earlier_run" not in rows["edge-store-0421"]
    # The next full run makes every row current again.
    run = tune(inventory, copy)
    assert run.returncode == 0, explain(run)
    assert "7 clusters: 7 tuned, 0 failed.\n" in (copy / "fleet-report.md").read_text()
    assert "earlier run" not in (copy / "fleet-report.md").read_text()


def test_inputs_are_read_as_the_sizing_module_reads_them(tmp_path):
    common = {"velero_chart_version": "12.1.0", "velero_version": "1.18.1",
              "velero_data": {"volume_bytes": "100Gi"}}
    cluster = {"namespaces": 10, "objects": 1000, "resource_types": 100}
    hosts = {
        # A quoted number is converted, as the sizing module's argument spec does.
        "string-count": {**common, "velero_cluster": {**cluster, "namespaces": "10"}},
        "list-cluster": {**common, "velero_cluster": [1]},
        "float-version": {**common, "velero_version": 1.14, "velero_chart_version": "7.2.2",
                          "velero_cluster": cluster},
        "list-overrides": {**common, "velero_cluster": cluster, "velero_values_overrides": [1, 2]},
        "bad-release": {**common, "velero_cluster": cluster, "velero_release_name": "Velero_Prod"},
        "removed-flag": {**common, "velero_cluster": cluster, "velero_values_overrides": {
            "configuration": {"extraArgs": ["--maintenance-job-mem-limit=8Gi"]}}},
    }
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"vars": {"ansible_python_interpreter": sys.executable},
                                                 "hosts": hosts}}))
    assert "velero_version: 1.14\n" in inventory.read_text()  # unquoted, as users write it
    out = tmp_path / "out"
    run = tune(inventory, out)
    assert failed_hosts(run) == set(hosts) - {"string-count"}, explain(run)
    assert yaml.safe_load((out / "string-count" / "values.yaml").read_text())["configuration"]["clientQPS"]
    failed = (out / "fleet-report.md").read_text().split("## Failed clusters", 1)[1]
    expected = {
        "list-cluster": "cluster: expected a mapping with at least namespaces, objects, resource_types, got list [1]",
        "float-version": "YAML reads an unquoted version such as 1.14 as a float; quote it",
        "list-overrides": "velero_values_overrides: expected a mapping of Helm values or the path of a YAML file, "
                          "got list [1, 2]",
        "bad-release": "'Velero_Prod' is not a valid Helm release name",
        "removed-flag": "--maintenance-job-mem-limit does not exist on `velero server` of Velero 1.18.1: removed in "
                        "Velero 1.17",
    }
    for host, message in expected.items():
        row = next(line for line in failed.splitlines() if line.startswith(f"| {host} |"))
        assert message in row, row
    assert "_Ansible" not in run.stdout


def test_vault_encrypted_overrides_are_read_and_kept_out_of_the_output(fleet, tmp_path):
    inventory, _out, _run = fleet
    password = tmp_path / "vault-password"
    password.write_text("not-a-real-password\n")
    overrides = tmp_path / "secret-overrides.yaml"
    overrides.write_text("credentials:\n  secretContents:\n    cloud: |\n      [default]\n"
                         "      aws_secret_access_key=S3CRET-KEY-1234\n")
    vault = Path(sys.executable).parent / "ansible-vault"
    subprocess.run([str(vault), "encrypt", "--vault-password-file", str(password), str(overrides)], check=True,
                   capture_output=True)
    assert overrides.read_text().startswith("$ANSIBLE_VAULT;")
    out = tmp_path / "out"
    env = {**DEFAULT_CALLBACK, "ANSIBLE_VAULT_PASSWORD_FILE": str(password)}
    run = run_playbook(TUNE, inventory, extra_vars={"tune_output_dir": str(out),
                                                    "velero_values_overrides": str(overrides)},
                       env=env, diff=True, limit="aks-platform-prod")
    assert run.returncode == 0, explain(run)
    values = out / "aks-platform-prod" / "values.yaml"
    assert "S3CRET-KEY-1234" in values.read_text()
    assert oct(values.stat().st_mode & 0o777) == "0o600"
    assert "S3CRET-KEY-1234" not in run.stdout + run.stderr
