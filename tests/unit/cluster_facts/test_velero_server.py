# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_velero_server: what cluster_facts and repo_maintenance both read from Velero's objects, and that
both modules really use the one implementation (they used to disagree)."""

from __future__ import annotations

import calendar
import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.velero_ops.tuning.plugins.module_utils import _cluster_facts as facts
from ansible_collections.velero_ops.tuning.plugins.module_utils import _maintenance as m
from ansible_collections.velero_ops.tuning.plugins.module_utils import _velero_server as vs


def deployment(name, args, image="velero/velero:v1.14.0", command=("/velero",), container="velero"):
    return {"metadata": {"name": name}, "spec": {"template": {"spec": {"containers": [
        {"name": "sidecar", "image": "busybox", "args": ["sleep", "1"]},
        {"name": container, "image": image, "command": list(command), "args": list(args)}]}}}}


@pytest.mark.parametrize("image, version", [
    ("velero/velero:v1.14.0", "1.14.0"),
    ("docker.io/velero/velero:v1.16.2@sha256:" + "a" * 64, "1.16.2"),
    ("registry.local:5000/mirror/velero:1.15.1", "1.15.1"),
    ("velero/velero:v1.16.2-rc.1", "1.16.2-rc.1"),  # a pre-release is reported as what it is
    ("velero/velero:v1.18.0+build.7", "1.18.0+build.7"),
    ("registry.local:5000/velero/velero", None),  # the port is not a tag
    ("velero/velero:latest", None),
    ("velero/velero@sha256:" + "b" * 64, None),
    ("", None),
    (None, None),
])
def test_image_version(image, version):
    assert vs.image_version(image) == version


def test_parse_flags_both_spellings_booleans_and_last_wins():
    assert vs.parse_flags(["/velero", "server", "--client-qps=50", "--client-burst", "70", "--restore-only",
                           "--features=EnableCSI", "--uploader-type", "kopia", "--client-qps=80"]) == {
        "client-qps": "80", "client-burst": "70", "restore-only": "true", "features": "EnableCSI",
        "uploader-type": "kopia"}
    assert vs.parse_flags(["--a", "--b", "x", "--", "--c=1"]) == {"a": "true", "b": "x"}
    assert vs.parse_flags([]) == {}


def test_server_flags_come_from_command_and_args():
    found = vs.find_server_deployment([deployment("velero", ["--client-qps=9"],
                                                  command=("/velero", "server", "--uploader-type=kopia"))])
    assert found is not None
    assert found.flags == {"uploader-type": "kopia", "client-qps": "9"}


def test_find_server_deployment_prefers_the_name_velero():
    chart10 = deployment("backup-velero", ["server", "--uploader-type=kopia"])
    ui = deployment("velero-ui", ["serve"], image="velero-ui:1")
    node_agent_like = deployment("velero", ["node-agent", "server"])  # named velero, but not the server
    found = vs.find_server_deployment([ui, chart10, node_agent_like])
    assert found is not None
    assert (found.name, found.named_velero, found.container["name"]) == ("backup-velero", False, "velero")
    both = vs.find_server_deployment([chart10, deployment("velero", ["server"], image="velero/velero:v1.16.2")])
    assert both is not None and (both.name, both.named_velero, both.version) == ("velero", True, "1.16.2")
    assert vs.find_server_deployment([ui]) is None
    assert vs.find_server_deployment([]) is None
    # Another container name works too: the subcommand decides, not the name.
    custom = vs.find_server_deployment([deployment("velero", ["server"], container="backup")])
    assert custom is not None and custom.container["name"] == "backup"


@pytest.mark.parametrize("text, expected", [
    ("2024-01-01T00:00:00Z", calendar.timegm((2024, 1, 1, 0, 0, 0))),
    ("2024-01-01T02:00:00+02:00", calendar.timegm((2024, 1, 1, 0, 0, 0))),
    ("2024-01-01T00:00:00.5Z", calendar.timegm((2024, 1, 1, 0, 0, 0)) + 0.5),
    ("2024-01-01T00:00:00.123456789Z", calendar.timegm((2024, 1, 1, 0, 0, 0)) + 0.123456789),
    ("yesterday", None),
    ("", None),
    (None, None),
])
def test_parse_timestamp(text, expected):
    result = vs.parse_timestamp(text)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected)


@given(st.datetimes(min_value=datetime.datetime(1971, 1, 1), max_value=datetime.datetime(2200, 1, 1)))
def test_timestamps_round_trip(moment):
    moment = moment.replace(microsecond=0, tzinfo=datetime.timezone.utc)
    text = vs.format_timestamp(moment.timestamp())
    assert text == moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert vs.parse_timestamp(text) == moment.timestamp()


@pytest.mark.parametrize("spec, key", [
    ({"volumeNamespace": "shop", "backupStorageLocation": "default", "repositoryType": "kopia"}, "shop-default-kopia"),
    ({"volumeNamespace": "shop", "backupStorageLocation": "default", "repositoryType": "restic"},
     "shop-default-restic"),
    # Velero's getJobConfig uses the fields verbatim: an empty type gives a trailing dash, not "kopia".
    ({"volumeNamespace": "shop", "backupStorageLocation": "default", "repositoryType": ""}, "shop-default-"),
    ({"volumeNamespace": "shop", "backupStorageLocation": "default"}, "shop-default-"),
])
def test_config_key_is_velero_s(spec, key):
    repository = {"metadata": {"name": "r"}, "spec": spec}
    assert vs.repository_config_key(repository) == key
    # Both modules use it: the key cluster_facts reports is the key repo_maintenance writes.
    assert m.config_key(repository) == key
    assert facts.summarize_repository(repository)["key"] == key


def test_both_modules_use_the_shared_functions():
    """One implementation, not two that drift apart again."""
    import ansible_collections.velero_ops.tuning.plugins.module_utils._facts_gather as gather
    import ansible_collections.velero_ops.tuning.plugins.module_utils._maintenance_run as run

    assert gather.find_server_deployment is vs.find_server_deployment
    assert run.find_server_deployment is vs.find_server_deployment
    assert facts.parse_timestamp is vs.parse_timestamp
    for name in ("version_from_image", "server_args", "server_container", "parse_time", "is_due"):
        assert not hasattr(m, name), name
    for name in ("parse_image_version", "parse_flags", "repository_key", "find_server_deployment"):
        assert not hasattr(facts, name), name
