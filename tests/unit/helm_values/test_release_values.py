# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The release's values after helm_values_apply: nothing the user did not ask to change is dropped."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.velero_ops.tuning.plugins.module_utils import _release_values as rv

DEPLOYED = {
    "configuration": {"backupStorageLocation": [{"name": "default", "provider": "aws", "bucket": "b"}],
                      "clientQPS": 150, "extraArgs": ["--item-block-worker-count=2"]},
    "credentials": {"secretContents": {"cloud": "secret"}},
    "initContainers": [{"name": "velero-plugin-for-aws", "image": "velero/velero-plugin-for-aws:v1.12.0"}],
}
WRITTEN = {"configuration": {"clientQPS": 300, "clientBurst": 400,
                             "extraArgs": ["--item-block-worker-count=2", "--client-page-size=0"]},
           "resources": {"limits": {"memory": "2Gi", "cpu": None}}}


def test_overlay_keeps_every_deployed_value_and_layers_the_written_ones():
    planned = rv.release_values(DEPLOYED, WRITTEN, rv.OVERLAY)
    values = planned["values"]
    assert values["configuration"]["backupStorageLocation"] == DEPLOYED["configuration"]["backupStorageLocation"]
    assert values["credentials"] == DEPLOYED["credentials"]
    assert values["initContainers"] == DEPLOYED["initContainers"]
    assert values["configuration"]["clientQPS"] == 300 and values["configuration"]["clientBurst"] == 400
    # Lists replace, as Helm layers values files; null stays null (Helm then drops the chart default).
    assert values["configuration"]["extraArgs"] == WRITTEN["configuration"]["extraArgs"]
    assert values["resources"]["limits"] == {"memory": "2Gi", "cpu": None}
    assert planned["removed_paths"] == []
    assert planned["changed_paths"] == ["configuration.clientQPS", "configuration.extraArgs"]
    assert "configuration.clientBurst" in planned["added_paths"] and planned["changed"] is True


def test_complete_values_replace_and_name_what_disappears():
    planned = rv.release_values(DEPLOYED, WRITTEN, rv.COMPLETE)
    assert planned["values"] == WRITTEN
    assert "credentials.secretContents.cloud" in planned["removed_paths"]


def test_nothing_to_change_is_no_change_and_a_new_release_starts_empty():
    same = rv.release_values(DEPLOYED, {"configuration": {"clientQPS": 150}}, rv.OVERLAY)
    assert same["changed"] is False and same["values"] == DEPLOYED
    new = rv.release_values(None, WRITTEN, rv.OVERLAY)
    assert new["values"] == WRITTEN and new["removed_paths"] == []


@pytest.mark.parametrize("deployed, written, contract, message", [
    ({}, {}, "merge", "contract: expected overlay or complete"),
    ([], {}, "overlay", "deployed: expected a mapping"),
    ({}, "x: 1", "overlay", "written: expected a mapping"),
])
def test_bad_input_is_named(deployed, written, contract, message):
    with pytest.raises(ValueError, match=message):
        rv.release_values(deployed, written, contract)


_keys = st.sampled_from(["a", "b", "c", "d"])
_trees = st.recursive(st.one_of(st.integers(), st.none(), st.lists(st.integers(), max_size=2)),
                      lambda inner: st.dictionaries(_keys, inner, max_size=3), max_leaves=8)


def _related(path: str, other: str) -> bool:
    return path == other or path.startswith(other + ".") or other.startswith(path + ".")


@settings(max_examples=60)
@given(st.dictionaries(_keys, _trees, max_size=4), st.dictionaries(_keys, _trees, max_size=4))
def test_overlay_never_loses_a_deployed_path_the_written_values_do_not_touch(deployed, written):
    planned = rv.release_values(deployed, written, rv.OVERLAY)
    after = rv.leaf_paths(planned["values"])
    touched = set(rv.leaf_paths(written))
    for path, value in rv.leaf_paths(deployed).items():
        if not any(_related(path, t) for t in touched):
            assert after[path] == value
    for path, value in rv.leaf_paths(written).items():
        if value != {}:  # an empty map merges into the deployed one and adds nothing
            assert after[path] == value
    assert all(any(_related(p, t) for t in touched) for p in planned["removed_paths"])
