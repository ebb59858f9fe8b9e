# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Options, preflight decisions, naming, ConfigMap entries and trigger/restore patches."""

from __future__ import annotations

import json
import time

import pytest

from ansible_collections.velero_ops.tuning.plugins.module_utils import _maintenance as m
from ansible_collections.velero_ops.tuning.plugins.module_utils._releases import release

Gi = 2**30


# ------------------------------------------------------------------------------------------ options

def test_parse_options_defaults() -> None:
    options = m.parse_options({})
    assert options == m.Options()
    assert (options.memory_step, options.timeout, options.poll_interval, options.trigger) == \
        (1.5, 3600.0, 10.0, "last_maintenance_time")


def test_parse_options_values() -> None:
    options = m.parse_options({"repositories": ["a", "a", " b "], "volume_namespaces": ["ns"], "memory_cap": "16Gi",
                               "memory_step": 2, "timeout": 0.5, "poll_interval": 0.05, "trigger": "frequency",
                               "pod_resources": {"memoryLimit": "4Gi", "memoryRequest": None}})
    assert options.repositories == ("a", "b") and options.volume_namespaces == ("ns",)
    assert options.memory_cap == 16 * Gi and options.memory_step == 2.0
    assert options.pod_resources == {"memoryLimit": "4Gi"}  # incomplete until merged with the current config


@pytest.mark.parametrize(("params", "message"), [
    ({"memory_step": 1.0}, "memory_step: expected a factor between 1.1 and 4.0"),
    ({"memory_step": "fast"}, "memory_step"),
    ({"memory_cap": "lots"}, "memory_cap: expected a Kubernetes memory quantity"),
    ({"memory_cap": "100Ki"}, "memory_cap: expected .* at least 1Mi"),
    ({"timeout": 0}, "timeout: expected a positive number"),
    ({"timeout": -5}, "timeout"),
    ({"poll_interval": 20, "timeout": 10}, "poll_interval: 20 is longer than timeout 10"),
    ({"busy_timeout": "soon"}, "busy_timeout"),
    ({"trigger": "kubectl"}, "trigger: expected one of last_maintenance_time, frequency"),
    ({"on_busy": "panic"}, "on_busy"),
    ({"config_scope": "cluster"}, "config_scope"),
    ({"repositories": "repo-a"}, "repositories: expected a list of names"),
    ({"repositories": [""]}, r"repositories\[0\]"),
    ({"pod_resources": {"memoryLimit": "lots"}}, "pod_resources.memoryLimit: expected a Kubernetes memory quantity"),
    ({"pod_resources": {"cpuLimit": "two"}}, "pod_resources.cpuLimit: expected a Kubernetes CPU quantity"),
    ({"pod_resources": {"gpu": "1"}}, "pod_resources.gpu: unknown field"),
    ({"pod_resources": {"memoryRequest": "8Gi", "memoryLimit": "4Gi"}}, "must not exceed its limit"),
    ({"pod_resources": {"memoryLimit": "32Gi"}, "memory_cap": "16Gi"}, "above memory_cap"),
    ({"configmap_name": "Bad_Name"}, "configmap_name"),
    ({"sizing": ["not", "a", "dict"]}, "sizing: expected a dictionary"),
])
def test_parse_options_rejects(params: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        m.parse_options(params)


@pytest.mark.parametrize(("value", "expected"), [
    ({"memoryLimit": "4Gi"}, {"cpuRequest": "0", "cpuLimit": "0", "memoryRequest": "0", "memoryLimit": "4Gi"}),
    ({"cpuRequest": 1, "cpuLimit": "2", "memoryRequest": "1Gi", "memoryLimit": "2Gi", "ephemeralStorageLimit": "10Gi"},
     {"cpuRequest": "1", "cpuLimit": "2", "memoryRequest": "1Gi", "memoryLimit": "2Gi", "ephemeralStorageLimit": "10Gi"}),
    ({"memoryRequest": "6Gi", "memoryLimit": "0"},  # an unbounded limit allows any request
     {"cpuRequest": "0", "cpuLimit": "0", "memoryRequest": "6Gi", "memoryLimit": "0"}),
])
def test_normalize_pod_resources_fills_all_four(value: dict, expected: dict) -> None:
    # Velero parses all four fields when podResources is present; "" stops the Job (velero.md 3.3).
    assert m.normalize_pod_resources(value, "pod_resources") == expected


# ------------------------------------------------------------------------------------------ names

REPO = {"metadata": {"name": "payments-default-kopia", "resourceVersion": "7"},
        "spec": {"volumeNamespace": "payments", "backupStorageLocation": "default", "repositoryType": "kopia",
                 "maintenanceFrequency": "1h0m0s"},
        "status": {"phase": "Ready", "lastMaintenanceTime": "2024-05-01T10:00:00Z"}}


def test_config_key() -> None:
    assert m.config_key(REPO) == "payments-default-kopia"


def test_repo_name_label_hashes_long_names_from_1_18() -> None:
    assert m.repo_name_label("abc", release("1.18.1")) == "abc"
    long_name = "a" * 64
    # SHA3-224 as Go's crypto/sha3 Sum224 computes it (label.ReturnNameOrHash); "abc" is the NIST test vector.
    assert len(m.repo_name_label(long_name, release("1.18.0"))) == 56
    assert m.repo_name_label(long_name, release("1.17.1")) == long_name
    assert m.label_problem(long_name, release("1.17.1")) is not None
    assert m.label_problem(long_name, release("1.18.0")) is None
    assert m.label_problem("a" * 63, release("1.14.0")) is None


def test_sha3_vector() -> None:
    import hashlib

    assert hashlib.sha3_224(b"abc").hexdigest() == "e642824c3f8cf24ad09234ee7d3c766fc9a3a5168d0c94ad73b46fdf"


# ------------------------------------------------------------------------------------------ server Deployment

def deployment(name: str = "velero", args: list[str] | None = None, image: str = "velero/velero:v1.16.2") -> dict:
    return {"metadata": {"name": name}, "spec": {"template": {"spec": {"containers": [
        {"name": "velero", "image": image, "command": ["/velero"], "args": args or ["server"]}]}}}}


@pytest.mark.parametrize(("image", "version"), [
    ("velero/velero:v1.16.2", "1.16.2"),
    ("docker.io/velero/velero:v1.14.0@sha256:abc", "1.14.0"),
    ("registry:5000/velero/velero:1.18.1", "1.18.1"),
    ("velero/velero:v1.15.0-rc.1", "1.15.0"),
    ("velero/velero@sha256:abc", None),
    ("velero/velero:main", None),
    (None, None),
])
def test_version_from_image(image, version) -> None:
    assert m.version_from_image(image) == version


def test_server_args() -> None:
    flags = m.server_args(deployment(args=["server", "--repo-maintenance-job-configmap=cm", "--uploader-type", "kopia",
                                           "--features=EnableCSI", "--default-volumes-to-fs-backup"]))
    assert flags == {"--repo-maintenance-job-configmap": "cm", "--uploader-type": "kopia", "--features": "EnableCSI",
                     "--default-volumes-to-fs-backup": "true"}
    assert m.flag_resources({"--maintenance-job-mem-limit": "8Gi"}) == {
        "cpuRequest": "0", "cpuLimit": "0", "memoryRequest": "0", "memoryLimit": "8Gi"}


def test_find_server_deployment() -> None:
    other = {"metadata": {"name": "nginx"}, "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx"}]}}}}
    found, named_ok = m.find_server_deployment([other, deployment("velero")])
    assert _name(found) == "velero" and named_ok
    found, named_ok = m.find_server_deployment([other, deployment("backup-velero")])  # chart <= 10.x, release "backup"
    assert _name(found) == "backup-velero" and not named_ok
    assert m.find_server_deployment([other]) == (None, False)
    text = m.deployment_name_problem("backup-velero", release("1.16.2"))
    assert "'backup-velero'" in text and "fullnameOverride" in text and "11.0.0" in text


def _name(obj: dict | None) -> str:
    return (obj or {}).get("metadata", {}).get("name", "")


def test_in_server_explanation() -> None:
    text = m.in_server_explanation(release("1.13.2"), "5.1Gi")
    assert "inside the velero server pod" in text and "5.1Gi" in text and "1.14+" in text


# ------------------------------------------------------------------------------------------ ConfigMap

def test_config_entries() -> None:
    resources = {"cpuRequest": "1", "cpuLimit": "2", "memoryRequest": "1Gi", "memoryLimit": "2Gi"}
    configmap = {"data": {"global": json.dumps({"podResources": resources, "keepLatestMaintenanceJobs": 3}),
                          "payments-default-kopia": json.dumps({"loadAffinity": [{"nodeSelector": {}}]})}}
    resources, source = m.current_pod_resources(configmap, "payments-default-kopia")
    assert source == "global" and resources["memoryLimit"] == "2Gi"  # per-repo key without podResources falls back
    before, after = m.config_entry_update(configmap, "payments-default-kopia", {"memoryLimit": "4Gi"})
    assert before == {"loadAffinity": [{"nodeSelector": {}}]}
    assert after == {"loadAffinity": [{"nodeSelector": {}}], "podResources": {"memoryLimit": "4Gi"}}
    assert json.loads(m.encode_entry(after)) == after
    assert m.current_pod_resources(None, "x") == (None, None)
    with pytest.raises(ValueError, match="ConfigMap key global: expected a JSON object"):
        m.current_pod_resources({"data": {"global": "{not json"}}, "x")


def test_is_helm_managed() -> None:
    assert m.is_helm_managed({"metadata": {"labels": {"app.kubernetes.io/managed-by": "Helm"}}})
    assert m.is_helm_managed({"metadata": {"annotations": {"meta.helm.sh/release-name": "velero"}}})
    assert not m.is_helm_managed({"metadata": {}}) and not m.is_helm_managed(None)


# ------------------------------------------------------------------------------------------ repositories

def repo(name: str, namespace: str, bsl: str = "default") -> dict:
    return {"metadata": {"name": name}, "spec": {"volumeNamespace": namespace, "backupStorageLocation": bsl,
                                                 "repositoryType": "kopia"}}


@pytest.mark.parametrize(("names", "namespaces", "selected", "missing"), [
    ((), (), ["a", "b", "c"], []),
    (("b",), (), ["b"], []),
    ((), ("ns2",), ["b", "c"], []),
    (("a",), ("ns2",), ["a", "b", "c"], []),  # either matches
    (("a", "zz"), (), ["a"], ["zz"]),
])
def test_select_repositories(names, namespaces, selected, missing) -> None:
    repos = [repo("c", "ns2"), repo("a", "ns1"), repo("b", "ns2")]
    chosen, absent = m.select_repositories(repos, names, namespaces)
    assert [_name(r) for r in chosen] == selected and absent == missing


@pytest.mark.parametrize(("bsl", "problem"), [
    ({"spec": {"accessMode": "ReadWrite"}, "status": {"phase": "Available"}}, None),
    ({"spec": {}, "status": {"phase": "Available"}}, None),
    ({"spec": {"accessMode": "ReadOnly"}, "status": {"phase": "Available"}}, "is ReadOnly"),
    ({"spec": {}, "status": {"phase": "Unavailable"}}, "is Unavailable, not Available"),
    ({"spec": {}}, "not validated yet"),
    (None, "does not exist"),
])
def test_bsl_problem(bsl, problem) -> None:
    found = m.bsl_problem(bsl, "default")
    assert (found is None) if problem is None else (problem in found)


def test_repository_phase_problem() -> None:
    assert m.repository_phase_problem(REPO) is None
    text = m.repository_phase_problem({"status": {"phase": "NotReady", "message": "error to connect"}})
    assert "NotReady" in text and "error to connect" in text


def op(kind_phase: str, name: str, **spec) -> dict:
    return {"metadata": {"name": name}, "spec": spec, "status": {"phase": kind_phase}}


@pytest.mark.parametrize(("backups", "restores", "deletions", "busy"), [
    ([], [], [], []),
    ([op("Completed", "b1")], [], [], []),
    ([op("InProgress", "b1", storageLocation="default")], [], [], ["Backup b1 (InProgress)"]),
    ([op("InProgress", "b1", storageLocation="other")], [], [], []),  # another BSL: another repository
    ([op("InProgress", "b1")], [], [], ["Backup b1 (InProgress)"]),  # default BSL unknown: conservative
    ([op("InProgress", "b1", includedNamespaces=["web"])], [], [], []),
    ([op("InProgress", "b1", includedNamespaces=["pay*"])], [], [], ["Backup b1 (InProgress)"]),
    ([op("InProgress", "b1", includedNamespaces=["*"], excludedNamespaces=["payments"])], [], [], []),
    ([op("WaitingForPluginOperations", "b1")], [], [], ["Backup b1 (WaitingForPluginOperations)"]),
    ([op("Completed", "b1", storageLocation="default")], [op("InProgress", "r1", backupName="b1")], [],
     ["Restore r1 (InProgress)"]),
    ([op("Completed", "b1", storageLocation="other")], [op("InProgress", "r1", backupName="b1")], [], []),
    ([], [op("InProgress", "r1", backupName="gone")], [], ["Restore r1 (InProgress)"]),
    ([], [], [op("InProgress", "d1", backupName="b9")], ["DeleteBackupRequest d1 for backup b9 (InProgress)"]),
    ([], [], [op("Processed", "d1", backupName="b9")], []),
    ([op("Completed", "b1", storageLocation="other")], [], [op("New", "d1", backupName="b1")], []),
])
def test_busy_operations(backups, restores, deletions, busy) -> None:
    assert m.busy_operations(REPO, backups, restores, deletions) == busy


# ------------------------------------------------------------------------------------------ due, trigger, restore

def test_is_due() -> None:
    now = time.mktime(time.strptime("2024-05-01T10:30:00", "%Y-%m-%dT%H:%M:%S")) - time.timezone
    assert not m.is_due(REPO, now)
    assert m.is_due(REPO, now + 3600)
    assert m.is_due({"spec": {"maintenanceFrequency": "1h"}, "status": {}}, now)


def test_trigger_and_restore_last_maintenance_time() -> None:
    patch = m.trigger_patch(REPO, "last_maintenance_time")
    assert patch == {"status": {"lastMaintenanceTime": None}, "metadata": {"resourceVersion": "7"}}
    nulled = {**REPO, "status": {"phase": "Ready", "lastMaintenanceTime": None}}
    assert m.trigger_patch(nulled, "last_maintenance_time") is None  # already due
    assert m.restore_patch(nulled, "last_maintenance_time", "2024-05-01T10:00:00Z") == {
        "status": {"lastMaintenanceTime": "2024-05-01T10:00:00Z"}, "metadata": {"resourceVersion": "7"}}
    # Velero recorded a success meanwhile: nothing to put back.
    assert m.restore_patch(REPO, "last_maintenance_time", "2024-04-01T00:00:00Z") is None
    assert m.restore_patch(nulled, "last_maintenance_time", None) is None


def test_trigger_and_restore_frequency() -> None:
    patch = m.trigger_patch(REPO, "frequency")
    assert patch == {"spec": {"maintenanceFrequency": m.TRIGGER_FREQUENCY}, "metadata": {"resourceVersion": "7"}}
    shortened = {**REPO, "spec": {**REPO["spec"], "maintenanceFrequency": m.TRIGGER_FREQUENCY}}
    assert m.restore_patch(shortened, "frequency", "1h0m0s")["spec"] == {"maintenanceFrequency": "1h0m0s"}
    # Someone else changed it since: leave their value alone.
    changed = {**REPO, "spec": {**REPO["spec"], "maintenanceFrequency": "6h"}}
    assert m.restore_patch(changed, "frequency", "1h0m0s") is None
    with pytest.raises(ValueError, match="trigger"):
        m.trigger_patch(REPO, "other")


def test_status_fingerprint_changes_on_results() -> None:
    before = m.status_fingerprint(REPO)
    assert m.status_fingerprint({**REPO, "status": {**REPO["status"], "message": "failed"}}) != before
    assert m.status_fingerprint({**REPO, "status": {**REPO["status"], "recentMaintenance": [{"result": "Failed"}]}}) != before
    assert m.status_fingerprint(REPO) == before
