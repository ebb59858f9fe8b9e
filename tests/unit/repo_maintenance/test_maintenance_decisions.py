# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Options, preflight decisions, naming, ConfigMap entries and trigger/restore patches."""

from __future__ import annotations

import json
import re

import pytest

from ansible_collections.velero_ops.tuning.plugins.module_utils import _maintenance as m
from ansible_collections.velero_ops.tuning.plugins.module_utils._releases import SUPPORTED_RANGE, release
from ansible_collections.velero_ops.tuning.plugins.module_utils._velero_server import parse_flags

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
    ({"recommendation": ["x"]}, "recommendation: expected a dictionary"),
    ({"recommendation": {"server": {}}}, "recommendation: expected the recommendation of velero_ops.tuning.sizing "
                                         r"\(a dictionary with a 'maintenance' key\).*got a dictionary with keys server"),
    ({"recommendation": {"changed": False, "failed": True, "msg": "x"}}, "keys changed, failed, msg"),
    ({"velero_version": "x"}, r"velero_version: expected a Velero version such as 1.14.0.*\(" + re.escape(SUPPORTED_RANGE) + r"\)"),
    ({"velero_version": "1.99.0"}, "velero_version: Velero 1.99.0 is not supported; supported versions are 1.12.0"),
    ({"velero_version": 1.16}, "velero_version: expected a Velero version string"),
])
def test_parse_options_rejects(params: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        m.parse_options(params)


RECOMMENDATION = {"velero_version": "1.16.2", "maintenance": {"pod_resources": {"memoryLimit": "4Gi"}}}


@pytest.mark.parametrize("given", [
    RECOMMENDATION,
    {"changed": False, "recommendation": RECOMMENDATION, "invocation": {"module_args": {}}},  # registered result
])
def test_recommendation_accepts_the_registered_sizing_result(given: dict) -> None:
    assert m.parse_options({"recommendation": given}).recommendation == RECOMMENDATION


def test_parse_options_accepts_supported_versions() -> None:
    assert m.parse_options({"velero_version": "v1.16.2-rc.1"}).velero_version == "v1.16.2-rc.1"
    assert m.parse_options({"velero_version": ""}).velero_version is None


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

def test_flag_resources_read_parse_flags_names() -> None:
    flags = parse_flags(["server", "--maintenance-job-mem-limit=8Gi", "--maintenance-job-cpu-request", "500m"])
    assert m.flag_resources(flags) == {"cpuRequest": "500m", "cpuLimit": "0", "memoryRequest": "0", "memoryLimit": "8Gi"}


def test_deployment_name_problem() -> None:
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


@pytest.mark.parametrize(("names", "namespaces", "selected"), [
    ((), (), ["a", "b", "c"]),
    (("b",), (), ["b"]),
    ((), ("ns2",), ["b", "c"]),
    (("a",), ("ns2",), ["a", "b", "c"]),  # either matches
])
def test_select_repositories(names, namespaces, selected) -> None:
    repos = [repo("c", "ns2"), repo("a", "ns1"), repo("b", "ns2")]
    assert [_name(r) for r in m.select_repositories(repos, names, namespaces)] == selected


@pytest.mark.parametrize(("names", "namespaces", "message"), [
    (("a", "zz"), (), "repositories: no BackupRepository named 'zz' in namespace velero; found: a, b, c"),
    ((), ("ns3",), "volume_namespaces: no BackupRepository with volume namespace 'ns3' in namespace velero; "
                   "found volume namespaces: ns1, ns2"),
    (("zz",), ("ns3",), "no BackupRepository named 'zz'.*; no BackupRepository with volume namespace 'ns3'"),
])
def test_select_repositories_rejects_names_that_match_nothing(names, namespaces, message) -> None:
    repos = [repo("c", "ns2"), repo("a", "ns1"), repo("b", "ns2")]
    with pytest.raises(ValueError, match=message):
        m.select_repositories(repos, names, namespaces, "velero")


def test_select_repositories_lists_at_most_twenty_names() -> None:
    repos = [repo(f"r{i:02d}", "ns") for i in range(25)]
    with pytest.raises(ValueError, match="found: r00, .*, r19 and 5 more$"):
        m.select_repositories(repos, ["typo"], [], "velero")


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


def test_restore_body_is_the_manual_patch() -> None:
    assert m.restore_body("last_maintenance_time", "2024-05-01T10:00:00Z") == {
        "status": {"lastMaintenanceTime": "2024-05-01T10:00:00Z"}}
    assert m.restore_body("last_maintenance_time", None) is None  # nothing was there to put back
    assert m.restore_body("frequency", "1h0m0s") == {"spec": {"maintenanceFrequency": "1h0m0s"}}
    assert m.restore_body("frequency", m.TRIGGER_FREQUENCY) is None
    assert m.trigger_value("frequency") == "1m" and m.trigger_value("last_maintenance_time") is None
    # A frequency that was not set before the trigger is put back as unset (the trigger did replace it).
    assert m.restore_body("frequency", None) == {"spec": {"maintenanceFrequency": None}}


def test_restore_patch_is_the_restore_body_while_the_trigger_value_is_in_place() -> None:
    for method, original in (("last_maintenance_time", "2024-05-01T10:00:00Z"), ("frequency", "1h0m0s"),
                             ("frequency", None)):
        section, key = m.trigger_field(method)
        triggered = {**REPO, section: {**REPO[section], key: m.trigger_value(method)}}
        assert m.restore_patch(triggered, method, original) == {
            **m.restore_body(method, original), "metadata": {"resourceVersion": "7"}}


def test_an_undo_that_never_read_the_original_restores_nothing() -> None:
    """The trigger's first read failed, so nothing was written: a user's own 1m frequency must stay."""
    from ansible_collections.velero_ops.tuning.plugins.module_utils._maintenance_journal import Undo
    from ansible_collections.velero_ops.tuning.plugins.module_utils._maintenance_run import MaintenanceRunner

    class Client:
        def __init__(self) -> None:
            self.patches: list = []

        def get(self, path: str) -> dict:
            return {**REPO, "spec": {**REPO["spec"], "maintenanceFrequency": m.TRIGGER_FREQUENCY}}

        def merge_patch(self, path: str, patch: dict) -> dict:
            self.patches.append(patch)
            return self.get(path)

    client = Client()
    runner = MaintenanceRunner(client, m.parse_options({"trigger": "frequency"}))
    runner.journal.pending.append(Undo("payments-default-kopia", "frequency"))
    runner.journal.restore()
    assert client.patches == [] and runner.report["unrestored"] == [] and runner.journal.pending == []


def status(**fields) -> dict:
    return {**REPO, "status": {**REPO["status"], **fields}}


@pytest.mark.parametrize(("current", "recorded"), [
    (REPO, False),
    (status(lastMaintenanceTime=None), False),  # the trigger's own null is no result
    (status(lastMaintenanceTime="2024-05-01T11:00:00Z"), True),  # success (any version)
    (status(lastMaintenanceTime=None, message="Maintenance job j-1 failed: boom"), True),  # 1.14/1.15 failure
    (status(lastMaintenanceTime=None, recentMaintenance=[{"result": "Failed", "startTimestamp": "t1"}]), True),
])
def test_result_recorded(current: dict, recorded: bool) -> None:
    assert m.result_recorded(current, REPO) is recorded


def test_result_recorded_when_the_history_is_full() -> None:
    """recentMaintenance keeps the last 3 entries: a new one shows as a changed last entry, not a longer list."""
    full = [{"result": "Failed", "startTimestamp": f"t{i}"} for i in range(3)]
    baseline = status(recentMaintenance=full)
    assert not m.result_recorded(baseline, baseline)
    assert m.result_recorded(status(recentMaintenance=full[1:] + [{"result": "Succeeded", "startTimestamp": "t3"}]),
                             baseline)
    same_message = status(message="Maintenance job j-1 failed: boom")
    assert not m.result_recorded(same_message, same_message)
