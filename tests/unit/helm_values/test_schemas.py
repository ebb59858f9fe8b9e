# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Strict per-era schemas: made from the real values.yaml files, every emitted key exists there, typos caught."""

from __future__ import annotations

import copy
import json
import typing as t

import jsonschema
import pytest

from ansible_collections.velero_ops.tuning.plugins.module_utils import _chart_eras as eras
from ansible_collections.velero_ops.tuning.plugins.module_utils import _helm_values as hv
from ansible_collections.velero_ops.tuning.plugins.module_utils import _values_schema as values_schema

import schema_gen  # noqa: E402  (tools/, put on sys.path by conftest)
from conftest import make_recommendation, real_values, velero_values_dir  # noqa: E402

ERA_IDS = [era.id for era in eras.ERAS]
# Free-form per the chart: names chosen by the user (ConfigMaps, manifests) or Velero's own JSON.
FREE_FORM = (eras.CONFIG_MAPS + ".", eras.EXTRA_OBJECTS + "[", eras.REPOSITORY_CONFIG_GLOBAL + ".",
             eras.REPOSITORY_CONFIG_REPOSITORIES + ".")


def exists(values: t.Mapping[str, t.Any], dotted: str) -> bool:
    node: t.Any = values
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def emitted_paths(values: t.Mapping[str, t.Any], prefix: str = "") -> list[str]:
    """Dotted paths of the rendered values, down to leaves or free-form containers."""
    paths = []
    for key, value in values.items():
        path = f"{prefix}.{key}" if prefix else key
        paths.append(path)
        if path in (eras.CONFIG_MAPS, eras.REPOSITORY_CONFIG_GLOBAL, eras.REPOSITORY_CONFIG_REPOSITORIES):
            continue
        if isinstance(value, dict):
            paths += emitted_paths(value, path)
    return paths


def maximal_recommendation(era: eras.ChartEra) -> dict[str, t.Any]:
    """Everything the renderer can emit for this era: per-repository entries, node-agent and backup-repository
    ConfigMaps, a non-default maintenance frequency, keep-latest."""
    version = era.velero_versions[-1]
    rec = make_recommendation(version, frequency="4h", keep=5, repositories={
        "apps-default-kopia": {"pod_resources": {"cpuRequest": "1", "cpuLimit": "2", "memoryRequest": "6Gi",
                                                 "memoryLimit": "12Gi"}}})
    return rec


@pytest.fixture(scope="module")
def values_dir():
    return velero_values_dir()


def test_schemas_are_generated_from_the_real_values_files(values_dir):
    """A stale schema (values file or generator changed) fails here; regenerate with --write."""
    assert schema_gen.main(["--values-dir", str(values_dir)]) == 0, (
        "schemas/helm-values/ is stale: run python tools/schema_gen.py --write")
    expected = {era.schema_name for era in eras.ERAS}
    assert {path.name for path in schema_gen.SCHEMA_DIR.glob("*.schema.json")} == expected


@pytest.mark.parametrize("era_id", ERA_IDS)
def test_schema_is_valid_and_accepts_the_charts_own_defaults(era_id, values_dir):
    era = eras.era_by_id(era_id)
    schema = values_schema.load_schema(era)
    jsonschema.Draft202012Validator.check_schema(schema)
    values_schema.validate_values(real_values(era), era)


@pytest.mark.parametrize("era_id", ERA_IDS)
def test_every_emitted_key_exists_in_the_eras_real_values_yaml(era_id, values_dir):
    """The proof asked for: what the collection writes is a key of that chart's values.yaml."""
    era = eras.era_by_id(era_id)
    real = real_values(era)
    rendered = hv.render_values(maximal_recommendation(era), era.last)
    paths = emitted_paths(rendered["values"])
    assert eras.CLIENT_QPS in paths
    for path in paths:
        if path.startswith(FREE_FORM):
            continue
        assert exists(real, path) or _resource_name(path), f"{path} is not a key of {era.values_file}"
        assert path not in era.absent


def _resource_name(path: str) -> bool:
    # resources.requests.cpu etc.: the chart's `resources: {}` takes Kubernetes ResourceRequirements.
    parts = path.split(".")
    for container in (eras.SERVER_RESOURCES, eras.NODE_AGENT_RESOURCES, eras.MAINTENANCE_REQUESTS,
                      eras.MAINTENANCE_LIMITS):
        depth = len(container.split("."))
        if ".".join(parts[:depth]) == container and len(parts) > depth:
            tail = parts[depth:]
            return tail[0] in ("requests", "limits", "cpu", "memory") and all(
                p in ("requests", "limits", "cpu", "memory") for p in tail)
    return False


@pytest.mark.parametrize("era_id", ERA_IDS)
def test_legacy_maintenance_keys_are_never_emitted_from_chart_11(era_id):
    era = eras.era_by_id(era_id)
    rendered = hv.render_values(maximal_recommendation(era), era.last)
    job = rendered["values"].get("configuration", {}).get("repositoryMaintenanceJob", {})
    if era.legacy_maintenance_keys_fail or era.maintenance == "config-data":
        assert not {"requests", "limits", "latestJobsCount"} & set(job)


# ---------------------------------------------------------------------------------------------------------
# Strictness: what the chart's own schema lets through silently.

def _reject(era_id: str, values: dict[str, t.Any]) -> str:
    era = eras.era_by_id(era_id)
    with pytest.raises(ValueError) as error:
        values_schema.validate_values(values, era, user_values=values)
    return str(error.value)


@pytest.mark.parametrize("era_id", ERA_IDS)
def test_mis_indented_client_qps_is_caught_in_every_era(era_id):
    message = _reject(era_id, {"configuration": {"backupStorageLocation": [{"name": "default"}]},
                               "clientQPS": 300})
    assert "unknown key 'clientQPS' (at the top level)" in message
    assert "it belongs at configuration.clientQPS (mis-indented?)" in message
    assert message.startswith("velero_values_overrides: ")


@pytest.mark.parametrize("values, expected", [
    ({"nodeAgent": {"clientQPS": 300}}, "unknown key 'nodeAgent.clientQPS' (under nodeAgent)"),
    ({"configuration": {"clientQps": 300}}, "did you mean configuration.clientQPS?"),
    ({"configuration": {"repositoryMaintenanceJob": {"clientBurst": 5}}}, "it belongs at configuration.clientBurst"),
    ({"nodeAgent": {"resource": {}}}, "did you mean nodeAgent.resources?"),
    ({"resources": {"request": {"cpu": "1"}}}, "did you mean resources.requests?"),
    ({"restic": {"podVolumePath": "/x"}}, "renamed to nodeAgent in chart 3.0.0"),
    ({"configuration": {"repositoryMaintenanceJob": {"requests": {"memory": "4Gi"}}}}, "removed in chart 11.0.0"),
    ({"configuration": {"repositoryMaintenanceJob": {"latestJobsCount": 3}}}, "refuses to render"),
])
def test_typos_and_removed_keys_get_a_hint(values, expected):
    assert expected in _reject("12.0.0-12.1.0", values)


def test_maintenance_keys_before_chart_7_1_2_are_rejected():
    message = _reject("7.0.0", {"configuration": {"repositoryMaintenanceJob": {"requests": {"memory": "4Gi"}}}})
    assert "has no maintenance-job keys (added in chart 7.1.2)" in message


@pytest.mark.parametrize("era_id", ["7.1.2", "7.1.3"])
def test_maintenance_requests_that_break_chart_7_1_2_and_7_1_3_are_rejected(era_id):
    message = _reject(era_id, {"configuration": {"repositoryMaintenanceJob": {"requests": {"cpu": "1"}}}})
    assert "fail to render with repositoryMaintenanceJob.requests.cpu/memory" in message
    values_schema.validate_values({"configuration": {"repositoryMaintenanceJob": {"limits": {"memory": "1Gi"}}}},
                                  eras.era_by_id(era_id))


@pytest.mark.parametrize("era_id, values, expected", [
    ("12.0.0-12.1.0", {"configuration": {"clientPageSize": 1000000}}, "Helm prints 1000000 as 1e+06"),
    ("7.1.4-7.2.2", {"configuration": {"clientBurst": 2.5}}, "a whole number below 1000000"),
    ("11.0.0-11.4.0", {"configuration": {"repositoryMaintenanceJob": {"repositoryConfigData": {
        "global": {"podResources": {"memoryRequest": "4Gi", "memoryLimit": "8Gi"}}}}}},
     "Velero needs all four of cpuRequest, cpuLimit, memoryRequest, memoryLimit"),
    ("11.0.0-11.4.0", {"configuration": {"repositoryMaintenanceJob": {"repositoryConfigData": {
        "global": {"podResources": {"cpuRequest": "1", "cpuLimit": "1", "memoryRequest": 4,
                                    "memoryLimit": "8Gi"}}}}}}, "Kubernetes quantity string"),
    ("11.0.0-11.4.0", {"configuration": {"repositoryMaintenanceJob": {"repositoryConfigData": {
        "global": {"keepLatestMaintenanceJobs": "3"}}}}}, "integer"),
    ("10.1.0-10.1.3", {"configuration": {"repositoryMaintenanceJob": {"repositoryConfigData": {
        "global": {"keepLatestMaintenanceJobs": 3}}}}}, "unknown key"),  # Velero 1.16 does not read it
    ("12.0.0-12.1.0", {"configuration": {"repositoryMaintenanceJob": {"repositoryConfigData": {
        "repositories": {"global": {}}}}}}, "is not a repository key"),
    ("12.0.0-12.1.0", {"configuration": {"extraArgs": "--client-qps=5"}}, "a list of strings"),
    ("12.0.0-12.1.0", {"configMaps": {"x": {"data": {"cacheLimitMB": 4096}}}}, "of type string"),
    ("12.0.0-12.1.0", {"resources": {"limits": {"memory": "8 GB"}}}, "is not valid"),
])
def test_types_as_the_chart_and_velero_expect(era_id, values, expected):
    assert expected in _reject(era_id, values)


@pytest.mark.parametrize("values", [
    {"image": {"digest": "sha256:abc"}},                      # documented in a comment
    {"revisionHistoryLimit": 2},                              # documented in a comment
    {"securityContext": {"runAsUser": 1000}},                 # read by the templates (old name)
    {"global": {"imageRegistry": "mirror.example"}},          # Helm's global values
    {"livenessProbe": {"exec": {"command": ["true"]}}},       # Kubernetes objects stay free-form
    {"metrics": {"podAnnotations": {"example.com/team": "storage"}}},
    {"nodeAgent": {"podSecurityContext": {"fsGroup": 1337}}},
    {"configMaps": {"fs-restore-action-config": {"labels": {"velero.io/plugin-config": ""},
                                                 "data": {"image": "velero/velero:v1.18.1"}}}},
    {"resources": {"limits": {"cpu": 2, "memory": "2Gi", "ephemeral-storage": "10Gi"}}},
    {"configuration": {"clientQPS": 12.5, "clientBurst": "1000000", "clientPageSize": None}},
])
def test_legitimate_values_pass(values):
    values_schema.validate_values(values, eras.era_by_id("12.0.0-12.1.0"))


def test_unchecked_keys_skip_the_schema():
    era = eras.era_by_id("12.0.0-12.1.0")
    values = {"configuration": {"someFutureFlag": True}}
    with pytest.raises(ValueError):
        values_schema.validate_values(values, era)
    values_schema.validate_values(values, era, unchecked=["configuration.someFutureFlag"])
    assert values == {"configuration": {"someFutureFlag": True}}  # not modified


def test_known_paths_and_commented_keys():
    schema = values_schema.load_schema(eras.era_by_id("12.0.0-12.1.0"))
    paths = values_schema.known_paths(schema)
    assert {"configuration.clientQPS", "image.digest", "nodeAgent.resources.requests",
            "configuration.repositoryMaintenanceJob.repositoryConfigData.global.podResources"} <= set(paths)
    text = "image:\n  tag: v1\n  # digest:\nresources: {}\n# requests:\n#   cpu: 1\n\n# Eg:\n# ref: https://x\n"
    assert schema_gen.commented_keys(text) == {"image": {"digest"}}


def test_schema_files_are_pretty_json_with_metadata():
    for era in eras.ERAS:
        text = (schema_gen.SCHEMA_DIR / era.schema_name).read_text(encoding="utf-8")
        data = json.loads(text)
        assert data["x-chart-versions"] == [era.first, era.last]
        assert data["additionalProperties"] is False
        assert copy.deepcopy(data) == data


# --- Items of lists and maps of objects (issue 11, section 3) ---------------------------------------------------

@pytest.mark.parametrize("era_id", ERA_IDS)
def test_the_two_common_mis_indents_are_caught_in_every_era(era_id):
    region = _reject(era_id, {"configuration": {"backupStorageLocation": [
        {"name": "default", "provider": "aws", "bucket": "b", "region": "eu-west-1"}]}})
    assert "unknown key 'configuration.backupStorageLocation[0].region'" in region
    assert "it belongs at configuration.backupStorageLocation[0].config.region" in region
    assert "passed through untyped" in region
    ttl = _reject(era_id, {"schedules": {"daily": {"schedule": "0 1 * * *", "ttl": "240h"}}})
    assert "unknown key 'schedules.daily.ttl' (under schedules.daily)" in ttl
    assert "it belongs at schedules.daily.template.ttl (mis-indented?)" in ttl


@pytest.mark.parametrize("era_id", ERA_IDS)
@pytest.mark.parametrize("values, expected", [
    ({"configuration": {"volumeSnapshotLocation": [{"name": "default", "provider": "aws", "region": "x"}]}},
     "it belongs at configuration.volumeSnapshotLocation[0].config.region"),
    ({"configuration": {"backupStorageLocation": [{"name": "a", "provider": "aws", "bucket": "b"},
                                                  {"name": "b", "provider": "aws", "bucket": "c",
                                                   "s3Url": "https://minio"}]}},
     "it belongs at configuration.backupStorageLocation[1].config.s3Url"),
    ({"configuration": {"backupStorageLocation": [{"name": "a", "provider": "aws", "bucket": "b",
                                                   "credential": {"name": "cloud", "keys": "x"}}]}},
     "did you mean configuration.backupStorageLocation[0].credential.key?"),
    ({"schedules": {"daily": {"schedule": "@daily", "template": {"includedNamespace": ["a"]}}}},
     "did you mean schedules.daily.template.includedNamespaces"),
    ({"schedules": {"daily": {"schedule": "@daily", "storageLocation": "default"}}},
     "it belongs at schedules.daily.template.storageLocation"),
    ({"schedules": {"daily": {"shedule": "@daily"}}}, "did you mean schedules.daily.schedule?"),
    ({"initContainers": [{"name": "velero-plugin-for-aws", "image": "velero/velero-plugin-for-aws:v1.9.0",
                          "volumeMount": [{"mountPath": "/target", "name": "plugins"}]}]},
     "did you mean initContainers[0].volumeMounts?"),
    ({"credentials": {"useSecret": True, "secretContent": {"cloud": "x"}}},
     "did you mean credentials.secretContents?"),
    ({"configMaps": {"fs-restore-action-config": {"label": {}, "data": {}}}},
     "did you mean configMaps.fs-restore-action-config.labels?"),
])
def test_items_of_lists_and_maps_are_strict(era_id, values, expected):
    assert expected in _reject(era_id, values)


def real_world_values(era: eras.ChartEra) -> dict[str, t.Any]:
    """Values as teams write them: two locations with credentials, a schedule with its template, plugins as init
    containers (and as a template string), the cloud credentials secret."""
    values: dict[str, t.Any] = {
        "initContainers": [{"name": "velero-plugin-for-aws", "image": "velero/velero-plugin-for-aws:v1.9.0",
                            "imagePullPolicy": "IfNotPresent",
                            "volumeMounts": [{"mountPath": "/target", "name": "plugins"}]}],
        "configuration": {
            "backupStorageLocation": [
                {"name": "default", "provider": "aws", "bucket": "velero", "prefix": "prod", "default": True,
                 "accessMode": "ReadWrite", "credential": {"name": "cloud-credentials", "key": "cloud"},
                 "config": {"region": "eu-west-1", "s3ForcePathStyle": "true", "s3Url": "https://minio:9000"}},
                {"name": "dr", "provider": "aws", "bucket": "velero-dr", "accessMode": "ReadOnly",
                 "config": {"region": "eu-central-1"}}],
            "volumeSnapshotLocation": [{"name": "default", "provider": "aws", "config": {"region": "eu-west-1"}}],
        },
        "credentials": {"useSecret": True, "secretContents": {"cloud": "[default]\naws_access_key_id=x\n"},
                        "extraEnvVars": {"AWS_SHARED_CREDENTIALS_FILE": "/credentials/cloud"}},
        "schedules": {"daily": {"disabled": False, "schedule": "0 1 * * *", "useOwnerReferencesInBackup": False,
                                "labels": {"team": "platform"}, "annotations": {"a": "b"},
                                "template": {"ttl": "240h", "storageLocation": "default",
                                             "includedNamespaces": ["*"], "excludedResources": ["events"],
                                             "snapshotVolumes": True, "defaultVolumesToFsBackup": False,
                                             "labelSelector": {"matchLabels": {"backup": "true"}},
                                             "hooks": {"resources": []}, "metadata": {"labels": {"x": "y"}}}}},
        "configMaps": {"fs-restore-action-config": {"labels": {"velero.io/plugin-config": ""},
                                                    "data": {"image": "velero/velero:v1.14.0"}}},
    }
    if era.velero_minor >= 13:  # snapshotMoveData is in the Schedule CRD from chart 5.1.0 (Velero 1.12)
        values["schedules"]["daily"]["template"]["snapshotMoveData"] = False
    return values


@pytest.mark.parametrize("era_id", ERA_IDS)
def test_real_world_items_pass_in_every_era(era_id):
    era = eras.era_by_id(era_id)
    values_schema.validate_values(real_world_values(era), era)
    values_schema.validate_values({"initContainers": "- name: {{ .Values.plugin }}\n  image: x\n"}, era)


def test_item_keys_are_read_from_the_templates(values_dir):
    """A key a later chart added is accepted only in eras with a release whose template reads it."""
    first, last = eras.era_by_id("5.1.0-5.2.2"), eras.era_by_id("12.0.0-12.1.0")
    sync = {"configuration": {"backupStorageLocation": [{"name": "d", "provider": "aws", "bucket": "b",
                                                         "backupSyncPeriod": "1m"}]}}
    values_schema.validate_values(sync, last)  # chart 12.0.1 reads backupSyncPeriod
    assert "unknown key 'configuration.backupStorageLocation[0].backupSyncPeriod'" in _reject(first.id, sync)
    skip = {"schedules": {"daily": {"schedule": "@daily", "skipImmediately": True}}}
    values_schema.validate_values(skip, last)
    assert "unknown key 'schedules.daily.skipImmediately'" in _reject(first.id, skip)
    keys = schema_gen.template_item_keys("12.1.0", "backupstoragelocation.yaml",
                                         "range .Values.configuration.backupStorageLocation",
                                         schema_gen.ITEM_TEMPLATES[0][3], values_dir / "charts")
    assert {"name", "provider", "bucket", "prefix", "config", "credential", "accessMode"} <= keys
    assert not keys & {"Values", "Release", "key", "region"}
