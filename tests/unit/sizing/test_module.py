# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The sizing module: thin glue, check mode, clean failures that name the field."""

from __future__ import annotations

import copy
import json
import typing as t

import jsonschema
import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.velero_ops.tuning.plugins.module_utils._recommend import recommend
from ansible_collections.velero_ops.tuning.plugins.module_utils._releases import NEWEST_MINOR, SUPPORTED_RANGE
from ansible_collections.velero_ops.tuning.plugins.modules import sizing
from unit.sizing.sizing_strategies import FOUNDING, LARGE_CLUSTER, RECOMMENDATION_SCHEMA


def run(args: dict[str, t.Any], capsys: pytest.CaptureFixture[str]) -> dict[str, t.Any]:
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            sizing.main()
    return json.loads(capsys.readouterr().out)


def test_success_returns_recommendation(capsys: pytest.CaptureFixture[str]) -> None:
    result = run(copy.deepcopy(FOUNDING), capsys)
    assert result.get("failed") is not True, result
    assert result["changed"] is False
    rec = result["recommendation"]
    jsonschema.validate(rec, RECOMMENDATION_SCHEMA, cls=jsonschema.Draft202012Validator)
    # The glue adds nothing: the module returns exactly what recommend() computes.
    assert rec == recommend(FOUNDING)


def test_check_mode_same_answer_no_change(capsys: pytest.CaptureFixture[str]) -> None:
    args = dict(copy.deepcopy(LARGE_CLUSTER), _ansible_check_mode=True)
    result = run(args, capsys)
    assert result["changed"] is False
    assert result["recommendation"] == recommend(LARGE_CLUSTER)


def test_unknown_options_are_absent_not_null(capsys: pytest.CaptureFixture[str]) -> None:
    """Ansible fills missing suboptions with None; the model must see them as unknown (assumptions listed)."""
    result = run(copy.deepcopy(FOUNDING), capsys)
    assumptions = " ".join(result["recommendation"]["assumptions"])
    assert "data.files unknown" in assumptions
    assert "policy.target_api_seconds not set" in assumptions


BAD = [
    ({"velero_version": 1.14}, "velero_version", "quote it"),
    ({"velero_version": "1.11.3"}, "velero_version", SUPPORTED_RANGE),
    ({"velero_version": f"1.{NEWEST_MINOR + 1}.0"}, "velero_version", SUPPORTED_RANGE),
    ({"data": {"volume_bytes": "lots"}}, "data.volume_bytes", "size string such as 763GB"),
    ({"data": {"volume_bytes": -7}}, "data.volume_bytes", "size string"),
    ({"cluster": {"namespaces": 4, "objects": -100, "resource_types": 50}}, "cluster.objects", "integer from 0"),
    ({"cluster": {"namespaces": 4, "objects": "lots", "resource_types": 50}}, "objects", "int"),
    ({"cluster": {"namespaces": 4, "objects": 10, "resource_types": 50, "shards": 2}}, "cluster.shards", "Unsupported"),
    ({"cluster": {"namespaces": 4, "objects": 10, "resource_types": 10**9}}, "cluster.resource_types", "20000"),
    ({"policy": {"max_maintenance_memory": "lots"}}, "policy.max_maintenance_memory", "memory quantity"),
    ({"policy": {"apf_share": 3}}, "policy.apf_share", "at most 1"),
    ({"data": {"volume_bytes": "1Ti", "largest_repository_bytes": "2Ti"}}, "data.largest_repository_bytes",
     "at most data.volume_bytes"),
    # ansible-core's own argument validation crashes on these ("argument of type 'int' is not iterable").
    ({"cluster": [1]}, "cluster", "expected a mapping with at least namespaces, objects, resource_types, got list [1]"),
    ({"data": 5}, "data", "expected a mapping with at least volume_bytes, got integer 5"),
    ({"policy": [True]}, "policy", "expected a mapping with any of max_client_qps"),
    ({"cluster": {"namespaces": 4, "objects": 10, "resource_types": 50, "node_memory": "lots"}},
     "cluster.node_memory", "memory quantity"),
]


@pytest.mark.parametrize(("override", "field", "text"), BAD, ids=[b[1] + ":" + b[2] for b in BAD])
def test_bad_input_fails_cleanly(override: dict[str, t.Any], field: str, text: str,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    args = copy.deepcopy(FOUNDING)
    args.update(override)
    result = run(args, capsys)
    assert result["failed"] is True
    assert field in result["msg"]
    assert text in result["msg"]
    assert "Traceback" not in result["msg"]
    assert "exception" not in result


def test_argspec_comes_from_the_field_table() -> None:
    from ansible_collections.velero_ops.tuning.plugins.module_utils._sizing_inputs import argument_spec
    spec = argument_spec()
    assert spec["velero_version"] == {"type": "raw", "required": True}
    assert spec["cluster"]["options"]["objects"] == {"type": "int", "required": True}
    assert spec["data"]["options"]["volume_bytes"] == {"type": "raw", "required": True}
    assert spec["policy"]["required"] is False


def test_numbers_as_strings_are_converted_as_ansible_does(capsys: pytest.CaptureFixture[str]) -> None:
    args = copy.deepcopy(FOUNDING)
    args["cluster"]["namespaces"] = "40"
    assert run(args, capsys)["recommendation"] == recommend(FOUNDING)


def test_render_values_reads_the_sizing_inputs_with_the_same_argspec() -> None:
    # tune.yml (render_values) and the sizing module accept and convert the same inputs.
    from ansible_collections.velero_ops.tuning.plugins.action import render_values
    from ansible_collections.velero_ops.tuning.plugins.module_utils._sizing_inputs import argument_spec
    for name, spec in argument_spec().items():
        assert render_values.ARGUMENT_SPEC[name] == spec, name
    assert render_values.ARGUMENT_SPEC["chart_version"]["type"] == "raw"
