# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The four descriptions of the sizing inputs agree: JSON schema, pure validator, argspec, DOCUMENTATION."""

from __future__ import annotations

import copy
import typing as t

import jsonschema
import pytest
import yaml
from hypothesis import given, settings

from ansible_collections.velero_ops.tuning.plugins.module_utils import _sizing_inputs as si
from ansible_collections.velero_ops.tuning.plugins.module_utils._releases import NEWEST_MINOR, SUPPORTED_RANGE, supported_minors
from ansible_collections.velero_ops.tuning.plugins.modules import sizing as sizing_module
from unit.sizing.sizing_strategies import FOUNDING, INPUT_SCHEMA, valid_inputs

VALIDATOR = jsonschema.Draft202012Validator(INPUT_SCHEMA)
DOC = yaml.safe_load(sizing_module.DOCUMENTATION)
SCHEMA_TYPES = {"int": "integer", "number": "number", "bool": "boolean", "string": "string"}


def _schema_section(name: str) -> dict[str, t.Any]:
    return INPUT_SCHEMA["properties"][name]


def test_schema_is_valid_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(INPUT_SCHEMA)
    assert INPUT_SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert INPUT_SCHEMA["additionalProperties"] is False


def test_same_keys_everywhere() -> None:
    spec = si.argument_spec()
    top = set(si.TOP_LEVEL) | set(si.FIELDS)
    assert set(INPUT_SCHEMA["properties"]) == top
    assert set(spec) == top
    assert set(DOC["options"]) == top
    for section, fields in si.FIELDS.items():
        schema = _schema_section(section)
        assert schema["additionalProperties"] is False
        assert set(schema["properties"]) == set(fields), section
        assert set(spec[section]["options"]) == set(fields), section
        assert set(DOC["options"][section]["suboptions"]) == set(fields), section


def test_required_agrees() -> None:
    spec = si.argument_spec()
    assert set(INPUT_SCHEMA["required"]) == {"velero_version"} | {k for k, v in si.SECTION_REQUIRED.items() if v}
    for section, fields in si.FIELDS.items():
        required = {name for name, field in fields.items() if field.required}
        assert set(_schema_section(section).get("required", [])) == required
        assert {n for n, o in spec[section]["options"].items() if o.get("required")} == required
        assert {n for n, o in DOC["options"][section]["suboptions"].items() if o.get("required")} == required
        assert bool(DOC["options"][section].get("required")) == si.SECTION_REQUIRED[section]


def test_types_and_bounds_agree() -> None:
    for section, fields in si.FIELDS.items():
        for name, field in fields.items():
            prop = _schema_section(section)["properties"][name]
            doc = DOC["options"][section]["suboptions"][name]
            assert doc["type"] == field.ansible_type, (section, name)
            if field.kind in SCHEMA_TYPES:
                types = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
                assert SCHEMA_TYPES[field.kind] in types, (section, name)
                assert ("null" in types) == (not field.required), (section, name)
                if field.exclusive_minimum:
                    assert prop.get("exclusiveMinimum") == field.minimum
                else:
                    assert prop.get("minimum") == field.minimum, (section, name)
                assert prop.get("maximum") == field.maximum, (section, name)
                assert prop.get("pattern") == field.pattern
                assert prop.get("maxLength") == field.max_length
    assert INPUT_SCHEMA["$defs"]["size"]["anyOf"][1]["pattern"] == si.SIZE_PATTERN
    assert INPUT_SCHEMA["$defs"]["size"]["anyOf"][0]["maximum"] == si.FIELDS["data"]["volume_bytes"].maximum
    assert INPUT_SCHEMA["$defs"]["memory"]["anyOf"][1]["pattern"] == si.MEMORY_PATTERN
    memory = si.FIELDS["policy"]["max_maintenance_memory"]
    assert INPUT_SCHEMA["$defs"]["memory"]["anyOf"][0]["minimum"] == memory.minimum
    assert INPUT_SCHEMA["$defs"]["memory"]["anyOf"][0]["maximum"] == memory.maximum
    assert INPUT_SCHEMA["properties"]["velero_version"]["pattern"] == si.VERSION_PATTERN


def _with(path: str, value: t.Any, base: dict[str, t.Any] | None = None) -> dict[str, t.Any]:
    """FOUNDING with one dotted path set (``value is _DELETE`` removes it)."""
    result = copy.deepcopy(base or FOUNDING)
    node = result
    parts = path.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    if value is _DELETE:
        node.pop(parts[-1], None)
    else:
        node[parts[-1]] = value
    return result


_DELETE = object()

# (dotted path, bad value, text the validator's message must contain)
BAD_FOR_BOTH = [
    ("velero_version", _DELETE, "velero_version: required"),
    ("velero_version", 1.14, "quote it"),
    ("velero_version", 1.1, "quote it"),
    ("velero_version", "1.11.0", SUPPORTED_RANGE),
    ("velero_version", f"1.{NEWEST_MINOR + 1}.0", SUPPORTED_RANGE),
    ("velero_version", "2.0.0", SUPPORTED_RANGE),
    ("velero_version", "latest", "velero_version"),
    ("velero_version", 114, "velero_version"),
    ("extra", 1, "unknown key(s) extra"),
    ("cluster", _DELETE, "cluster: required"),
    ("cluster", "big", "cluster: expected a mapping"),
    ("cluster.namespaces", _DELETE, "cluster.namespaces: required"),
    ("cluster.namespaces", 0, "cluster.namespaces: expected an integer from 1 to 100000"),
    ("cluster.namespaces", -3, "cluster.namespaces"),
    ("cluster.namespaces", "10", "cluster.namespaces"),
    ("cluster.namespaces", 1.5, "cluster.namespaces"),
    ("cluster.namespaces", True, "cluster.namespaces"),
    ("cluster.namespaces", 1_000_000, "cluster.namespaces"),
    ("cluster.objects", -5, "cluster.objects: expected an integer from 0 to 100000000, got -5"),
    ("cluster.objects", "lots", "cluster.objects"),
    ("cluster.objects", 1e9, "cluster.objects"),
    ("cluster.objects", [1], "cluster.objects"),
    ("cluster.resource_types", 0, "cluster.resource_types"),
    ("cluster.foo", 1, "cluster: unknown key(s) foo"),
    ("cluster.aggregated_discovery", "yes", "cluster.aggregated_discovery: expected true or false"),
    ("cluster.nodes", 0, "cluster.nodes"),
    ("data", _DELETE, "data: required"),
    ("data", ["763GB"], "data: expected a mapping"),
    ("data.volume_bytes", _DELETE, "data.volume_bytes: required"),
    ("data.volume_bytes", "lots", "data.volume_bytes: expected a whole number of bytes or a size string"),
    ("data.volume_bytes", "5 parsecs", "data.volume_bytes"),
    ("data.volume_bytes", "-5GB", "data.volume_bytes"),
    ("data.volume_bytes", -1, "data.volume_bytes"),
    ("data.volume_bytes", 1.5, "data.volume_bytes"),
    ("data.volume_bytes", True, "data.volume_bytes"),
    ("data.volume_bytes", 2**60, "data.volume_bytes"),
    ("data.files", -1, "data.files"),
    ("data.files", "many", "data.files"),
    ("data.largest_repository_key", "bad key!", "data.largest_repository_key"),
    ("data.largest_repository_key", "x" * 254, "data.largest_repository_key"),
    ("data.largest_repository_bytes", "huge", "data.largest_repository_bytes"),
    ("data.index_blobs", -2438, "data.index_blobs"),
    ("data.backups_per_day", 0, "data.backups_per_day: expected a number greater than 0 and at most 1440"),
    ("data.backups_retained", 0, "data.backups_retained"),
    ("data.colour", "blue", "data: unknown key(s) colour"),
    ("policy", "strict", "policy: expected a mapping"),
    ("policy.max_client_qps", 0, "policy.max_client_qps"),
    ("policy.max_client_qps", "fast", "policy.max_client_qps"),
    ("policy.apf_share", 1.5, "policy.apf_share"),
    ("policy.apf_share", 0, "policy.apf_share"),
    ("policy.target_api_seconds", 0.5, "policy.target_api_seconds"),
    ("policy.max_maintenance_memory", "lots", "policy.max_maintenance_memory"),
    ("policy.max_maintenance_memory", "8 Gi", "policy.max_maintenance_memory"),
    ("policy.max_maintenance_memory", 1024, "policy.max_maintenance_memory"),
    ("policy.apiserver_concurrency", 0, "policy.apiserver_concurrency"),
    ("policy.qps", 300, "policy: unknown key(s) qps"),
]

# Rules a JSON Schema cannot express: the validator rejects, the schema lets them through.
BAD_FOR_VALIDATOR_ONLY = [
    ("data.volume_bytes", "200Pi", "data.volume_bytes"),
    ("policy.max_maintenance_memory", "512m", "policy.max_maintenance_memory"),
    ("policy.max_maintenance_memory", "5Ti", "policy.max_maintenance_memory"),
    ("cluster.namespaced_resource_types", 151, "cluster.namespaced_resource_types: expected at most"),
    ("data.largest_repository_bytes", "800GB", "data.largest_repository_bytes: expected at most data.volume_bytes"),
]


@pytest.mark.parametrize(("path", "value", "message"), BAD_FOR_BOTH, ids=[f"{row[0]}={row[1]!r}"[:60] for row in BAD_FOR_BOTH])
def test_bad_input_rejected_by_schema_and_validator(path: str, value: t.Any, message: str) -> None:
    inputs = _with(path, value)
    assert list(VALIDATOR.iter_errors(inputs)), f"schema accepted {path}={value!r}"
    with pytest.raises(ValueError) as excinfo:
        si.validate(inputs)
    assert message in str(excinfo.value)


@pytest.mark.parametrize(("path", "value", "message"), BAD_FOR_VALIDATOR_ONLY)
def test_cross_field_and_string_bounds_rejected_by_validator(path: str, value: t.Any, message: str) -> None:
    inputs = _with(path, value)
    assert not list(VALIDATOR.iter_errors(inputs))
    with pytest.raises(ValueError) as excinfo:
        si.validate(inputs)
    assert message in str(excinfo.value)


def test_largest_files_above_files_rejected() -> None:
    inputs = _with("data.files", 10)
    inputs["data"]["largest_repository_files"] = 11
    with pytest.raises(ValueError, match=r"data.largest_repository_files: expected at most data.files \(10\)"):
        si.validate(inputs)


@settings(max_examples=150, deadline=None)
@given(valid_inputs())
def test_generated_valid_inputs_accepted_by_both(inputs: dict[str, t.Any]) -> None:
    errors = [error.message for error in VALIDATOR.iter_errors(inputs)]
    assert not errors
    si.validate(inputs)


@pytest.mark.parametrize("version", ["1.14.0", "v1.16.2", "1.18.1", "1.12.0", "1.15.0-rc.1"])
def test_versions_accepted_by_both(version: str) -> None:
    inputs = _with("velero_version", version)
    assert not list(VALIDATOR.iter_errors(inputs))
    assert si.validate(inputs).release.version[1] in supported_minors()


def test_null_means_unknown_for_optional_fields() -> None:
    inputs = _with("data.files", None)
    inputs["policy"] = None
    assert not list(VALIDATOR.iter_errors(inputs))
    assert si.validate(inputs).data["files"] is None


def test_integral_float_accepted_as_integer_by_both() -> None:
    inputs = _with("cluster.objects", 12000.0)
    assert not list(VALIDATOR.iter_errors(inputs))
    assert si.validate(inputs).cluster["objects"] == 12000
