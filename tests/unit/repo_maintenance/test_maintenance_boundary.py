# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The maintenance boundary: object shapes, restore marks, the undo command and the step deadline."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.velero_ops.tuning.plugins.module_utils import _restore_marks as marks
from ansible_collections.velero_ops.tuning.plugins.module_utils._maintenance_bounds import Deadline, DeadlineExceeded
from ansible_collections.velero_ops.tuning.plugins.module_utils._maintenance_shapes import (
    MalformedObject,
    check_list_page,
    check_object,
)
from support.fake_time import FakeTime

HOSTILE = "1h0m0s'; touch /tmp/x; echo '"


# ------------------------------------------------------------------------------------------ shapes

def job(**status) -> dict:
    return {"metadata": {"name": "payments-default-kopia-maintain-job-1"}, "status": status}


@pytest.mark.parametrize(("kind", "obj", "message"), [
    ("Job", job(succeeded="abc"),
     "Job velero/payments-default-kopia-maintain-job-1: status.succeeded: expected an integer, got string 'abc'"),
    ("Job", job(conditions="Complete"), "status.conditions: expected a list, got string 'Complete'"),
    ("Job", job(conditions=[{"type": "Complete", "status": True}]),
     "status.conditions[0].status: expected a string, got boolean True"),
    ("Job", job(conditions=[None]), "status.conditions[0]: expected an object, got null"),
    ("Job", {"metadata": {"name": "j"}, "spec": {"template": {"spec": {"containers": "velero"}}}},
     "Job velero/j: spec.template.spec.containers: expected a list"),
    ("Job", {"metadata": {"name": "j"}, "status": "Complete"}, "Job velero/j: status: expected an object"),
    ("BackupRepository", {"metadata": {"name": "r"}, "status": {"recentMaintenance": {"result": "Failed"}}},
     "BackupRepository velero/r: status.recentMaintenance: expected a list, got mapping"),
    ("BackupRepository", {"metadata": {"name": "r"}, "status": {"recentMaintenance": ["Failed"]}},
     "status.recentMaintenance[0]: expected an object, got string 'Failed'"),
    ("BackupRepository", {"metadata": {"name": "r"}, "status": {"lastMaintenanceTime": 1700000000}},
     "status.lastMaintenanceTime: expected a string, got integer 1700000000"),
    ("BackupRepository", {"metadata": None}, "BackupRepository velero/(unnamed): metadata: expected an object, got null"),
    ("BackupRepository", {"metadata": {"name": 7}}, "metadata.name: expected a string, got integer 7"),
    ("BackupRepository", "payments", "BackupRepository velero/(unnamed): (object): expected an object"),
    ("Pod", {"metadata": {"name": "p"}, "status": {"containerStatuses": [{"state": {"terminated": {"exitCode": "137"}}}]}},
     "Pod velero/p: status.containerStatuses[0].state.terminated.exitCode: expected an integer, got string '137'"),
    ("ConfigMap", {"metadata": {"name": "cm"}, "data": {"global": {"podResources": {}}}},
     "ConfigMap velero/cm: data: expected an object of strings"),
    ("Deployment", {"metadata": {"name": "velero"}, "spec": {"template": {"spec": {"containers": [{"args": "server"}]}}}},
     "spec.template.spec.containers[0].args: expected a list of strings"),
    ("Backup", {"metadata": {"name": "b"}, "spec": {"includedNamespaces": "*"}}, "spec.includedNamespaces"),
])
def test_unexpected_types_name_kind_object_and_field(kind, obj, message) -> None:
    with pytest.raises(MalformedObject) as raised:
        check_object(kind, obj, "velero")
    assert message in str(raised.value)
    assert isinstance(raised.value, ValueError)


def test_well_formed_objects_pass_unchanged_and_null_means_absent() -> None:
    repository = {"metadata": {"name": "r", "annotations": {"a": "b"}}, "spec": {"maintenanceFrequency": "1h0m0s"},
                  "status": {"lastMaintenanceTime": None, "recentMaintenance": None, "phase": "Ready"}}
    assert check_object("BackupRepository", repository, "velero") is repository
    finished = job(active=None, succeeded=1, conditions=[{"type": "Complete", "status": "True"}])
    assert check_object("Job", finished, "velero") is finished
    pod = {"metadata": {"name": "p"}, "status": {"containerStatuses": [
        {"state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}, "lastState": {}}]}}
    assert check_object("Pod", pod, "velero") is pod


@pytest.mark.parametrize(("page", "message"), [
    ({"items": "abc"}, "JobList in velero: items: expected a list, got string 'abc'"),
    ({"items": [], "metadata": "x"}, "JobList in velero: metadata: expected an object"),
    ({"items": [], "metadata": {"continue": 5}}, "metadata.continue: expected a string"),
    ({"items": [{"metadata": {"name": "j"}, "status": {"failed": "1"}}]}, "Job velero/j: status.failed"),
])
def test_list_pages_are_checked(page, message) -> None:
    with pytest.raises(MalformedObject, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_list_page("Job", page, "velero")


def test_null_items_is_an_empty_page() -> None:
    assert check_list_page("Job", {"items": None, "metadata": {"continue": ""}}, "velero") == ([], None)


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(
                        ["metadata", "name", "status", "spec", "conditions", "succeeded", "containerStatuses", "state",
                         "terminated", "exitCode", "recentMaintenance", "data", "items"]), inner, max_size=4),
                    max_leaves=12))
def test_any_json_either_passes_or_fails_with_a_named_field(value) -> None:
    for kind in ("Job", "Pod", "BackupRepository", "ConfigMap"):
        try:
            check_object(kind, value, "velero")
        except MalformedObject as exc:
            assert str(exc).startswith(f"{kind} velero/") and ": expected " in str(exc)


# ------------------------------------------------------------------------------------------ restore marks

def repository(frequency: str = "1m", last: str | None = None, annotations: dict | None = None) -> dict:
    return {"metadata": {"name": "payments-default-kopia", "resourceVersion": "7", "annotations": annotations or {}},
            "spec": {"maintenanceFrequency": frequency}, "status": {"lastMaintenanceTime": last}}


def test_trigger_patch_carries_the_mark_and_restore_removes_it() -> None:
    patch = marks.add_mark({"spec": {"maintenanceFrequency": "1m"}, "metadata": {"resourceVersion": "6"}},
                           "frequency", "1h0m0s", "2026-12-04T14:50:00Z")
    annotation = patch["metadata"]["annotations"][marks.ANNOTATIONS["frequency"]]
    assert json.loads(annotation) == {"field": "spec.maintenanceFrequency", "original": "1h0m0s", "temporary": "1m",
                                      "since": "2026-12-04T14:50:00Z", "by": marks.WRITER}
    marked = repository(annotations={marks.ANNOTATIONS["frequency"]: annotation})
    [mark] = marks.read_marks(marked)
    assert (mark.method, mark.field, mark.original, mark.temporary, mark.since, mark.problem) == (
        "frequency", "spec.maintenanceFrequency", "1h0m0s", "1m", "2026-12-04T14:50:00Z", None)
    restore = marks.restore_patch(marked, "frequency", "1h0m0s")
    assert restore == {"spec": {"maintenanceFrequency": "1h0m0s"},
                       "metadata": {"annotations": {marks.ANNOTATIONS["frequency"]: None}, "resourceVersion": "7"}}
    assert marks.puts_back(restore, "frequency")


def test_restore_after_velero_moved_on_only_removes_the_mark() -> None:
    mark = marks.encode_mark("last_maintenance_time", "2026-12-04T13:00:00Z", "2026-12-04T14:00:00Z")
    succeeded = repository(last="2026-12-04T14:30:00Z", annotations={marks.ANNOTATIONS["last_maintenance_time"]: mark})
    patch = marks.restore_patch(succeeded, "last_maintenance_time", "2026-12-04T13:00:00Z")
    assert patch == {"metadata": {"annotations": {marks.ANNOTATIONS["last_maintenance_time"]: None},
                                  "resourceVersion": "7"}}
    assert not marks.puts_back(patch, "last_maintenance_time")
    assert marks.restore_patch(repository(last="2026-12-04T14:30:00Z"), "last_maintenance_time", "x") is None


@pytest.mark.parametrize(("annotations", "problem"), [
    ({marks.ANNOTATIONS["frequency"]: "not json"}, "does not hold what repo_maintenance writes"),
    ({marks.ANNOTATIONS["frequency"]: json.dumps({"field": "status.lastMaintenanceTime", "original": "x"})},
     "does not hold what repo_maintenance writes"),
    ({marks.ANNOTATIONS["frequency"]: json.dumps({"field": "spec.maintenanceFrequency", "original": 5})},
     "original is not a string or null"),
    ({marks.ANNOTATION_PREFIX + "something-new": "{}"}, "unknown restore annotation"),
])
def test_unusable_marks_are_reported_not_used(annotations, problem) -> None:
    [mark] = marks.read_marks(repository(annotations=annotations))
    assert problem in mark.problem


def test_other_annotations_are_not_marks() -> None:
    assert marks.read_marks(repository(annotations={"velero.io/x": "y", "velero-ops.tuning/written-by": "z"})) == []


# ------------------------------------------------------------------------------------------ undo command

def fake_kubectl(tmp_path: Path) -> dict:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "kubectl"
    script.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done > "$ARGS_FILE"\n', encoding="utf-8")
    script.chmod(0o755)
    return dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", ARGS_FILE=str(tmp_path / "args"))


@pytest.mark.parametrize("original", [HOSTILE, "1h0m0s'; touch pwned; echo '", "1h0m0s", None,
                                      'x"; $(touch pwned) `touch pwned2` \\ \n'])
def test_the_printed_undo_command_is_one_kubectl_call_whatever_the_value(tmp_path, original) -> None:
    body = marks.manual_body("frequency", original)
    command = marks.undo_command("velero", "payments-default-kopia", body)
    env = fake_kubectl(tmp_path)
    subprocess.run(["bash", "-c", command], check=True, env=env, cwd=tmp_path)
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "pwned2").exists()  # nothing else ran
    args = (tmp_path / "args").read_text(encoding="utf-8").split("\n")
    assert args[:9] == ["-n", "velero", "patch", "backuprepository", "payments-default-kopia", "--type", "merge",
                        "-p", args[8]]
    sent = json.loads("\n".join(args[8:-1]))
    assert sent == {"spec": {"maintenanceFrequency": original},
                    "metadata": {"annotations": {marks.ANNOTATIONS["frequency"]: None}}}


def test_a_plain_value_gives_the_familiar_command() -> None:
    body = marks.manual_body("last_maintenance_time", "2024-12-03T07:00:00Z")
    assert marks.undo_command("velero", "payments-default-kopia", body) == (
        "kubectl -n velero patch backuprepository payments-default-kopia --type merge -p "
        "'{\"status\":{\"lastMaintenanceTime\":\"2024-12-03T07:00:00Z\"},\"metadata\":{\"annotations\":"
        "{\"velero-ops.tuning/restore-last-maintenance-time\":null}}}'")


# ------------------------------------------------------------------------------------------ deadline


def test_retry_waits_end_at_the_deadline() -> None:
    fake = FakeTime()
    deadline = Deadline(fake.clock, fake.sleep)
    deadline.sleep(60)  # no step open: unbounded
    with deadline.limit(5, "attempt for payments"):
        deadline.sleep(2)
        with pytest.raises(DeadlineExceeded, match=r"attempt for payments: the time allowed \(5.0s\) ran out while "
                                                   r"waiting to retry"):
            deadline.sleep(60)  # Retry-After: 60 three seconds before the end
    assert fake.slept == [60, 2, 3]


def test_a_nested_step_never_extends_its_parent_unless_independent() -> None:
    fake = FakeTime()
    deadline = Deadline(fake.clock, fake.sleep)
    with deadline.limit(5, "attempt"):
        with deadline.limit(60, "inner"):
            assert deadline.remaining() == 5 and deadline.what == "attempt"
        fake.now += 10
        assert deadline.expired()
        with pytest.raises(DeadlineExceeded):
            deadline.check("listing Jobs")
        with deadline.limit(30, "restoring", independent=True):
            assert deadline.remaining() == 30 and not deadline.expired()
        assert deadline.expired()
    assert deadline.remaining() is None


def test_poll_pauses_stop_at_the_deadline_without_raising() -> None:
    fake = FakeTime()
    deadline = Deadline(fake.clock, fake.sleep)
    with deadline.limit(1, "attempt"):
        deadline.pause(10)
        deadline.pause(10)
    assert fake.slept == [1]


def test_the_restore_reads_only_its_own_fields() -> None:
    broken = {"metadata": {"name": "r", "resourceVersion": "3"}, "spec": {"maintenanceFrequency": "1m"},
              "status": {"recentMaintenance": "abc", "phase": 7}}
    assert check_object("BackupRepository:restore", broken, "velero") is broken
    with pytest.raises(MalformedObject, match=r"^BackupRepository velero/r: spec.maintenanceFrequency: expected a"):
        check_object("BackupRepository:restore", {"metadata": {"name": "r"}, "spec": {"maintenanceFrequency": 60}},
                     "velero")


class RecordingClient:
    """Only records what the boundary hands a client; the real client is exercised over HTTP in tests/integration."""

    def __init__(self, pages: list) -> None:
        self.pages = list(pages)
        self.deadlines: list = []
        self.request_timeout = 30.0
        self.timeouts: list = []

    def set_deadline(self, seconds) -> None:
        self.deadlines.append(seconds)

    def get(self, path, query=None):
        self.timeouts.append(self.request_timeout)
        return self.pages.pop(0)


def test_the_boundary_hands_the_step_deadline_to_the_client_and_stops_repeated_tokens() -> None:
    from ansible_collections.velero_ops.tuning.plugins.module_utils._maintenance_bounds import EndlessList, MaintenanceAPI

    fake = FakeTime()
    deadline = Deadline(fake.clock, fake.sleep)
    page = {"items": [], "metadata": {"continue": "same"}}
    client = RecordingClient([page, page, page])
    api = MaintenanceAPI(client, deadline, "velero")
    with deadline.limit(5, "attempt"):
        fake.now += 2
        with pytest.raises(EndlessList, match="continue token it had already given"):
            api.list("Job", "/apis/batch/v1/namespaces/velero/jobs")
    assert client.deadlines == [3.0, 3.0] and client.timeouts == [3.0, 3.0]
    assert len(client.pages) == 1  # two requests, not an endless loop
