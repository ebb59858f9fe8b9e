# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Validation of the sizing inputs (``velero_version``, ``cluster``, ``data``, ``policy``).

``schemas/sizing-input.schema.json`` is the published shape; this module enforces the same
keys, types and bounds without jsonschema, because module_utils run on the target where
neither ``schemas/`` nor jsonschema exist. ``tests/unit/sizing/test_schema_agreement.py``
proves the two (and the module argspec built from ``FIELDS``) agree.

Errors are ``ValueError("<field path>: <what is accepted>, got <value>")``. ``None`` means
"not known" for optional fields: the model then uses a documented assumption.
"""

from __future__ import annotations

import dataclasses
import math
import re
import typing as t

from ._fields import describe_value as _describe
from ._fields import type_name
from ._quantity import QUANTITY_PATTERN, GiB, MiB, format_size, parse_memory, parse_size
from ._releases import SUPPORTED_RANGE, VERSION_PATTERN, VeleroRelease, release

# Kinds of field: how a value is accepted and normalised.
#   int     whole number (an integral float such as 3.0 is accepted, as JSON Schema does)
#   number  int or float
#   size    whole bytes or a size string (763GB, 1.5Ti, 700Gi)
#   memory  whole bytes or a Kubernetes memory quantity (512Mi, 8Gi)
#   string  text matching ``pattern``
#   bool    true/false
#   version Velero version string
#   strings list of strings (free text, e.g. where an observation came from)
Kind = t.Literal["int", "number", "size", "memory", "string", "bool", "version", "strings"]

PiB = 2**50
TiB = 2**40

# Same regular expressions as the schema's "pattern" (ECMA-262 compatible, no flags).
SIZE_PATTERN = r"^\s*([0-9]+(\.[0-9]+)?|\.[0-9]+)\s*([kKmMgGtTpPeE][iI]?[bB]?|[bB])?\s*$"
MEMORY_PATTERN = QUANTITY_PATTERN
REPOSITORY_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"


@dataclasses.dataclass(frozen=True)
class Field:
    """One input field: the single table the validator, argspec and docs tests read."""

    kind: Kind
    description: str
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    pattern: str | None = None
    max_length: int | None = None
    choices: tuple[str, ...] | None = None

    @property
    def ansible_type(self) -> str:
        return {"int": "int", "number": "float", "size": "raw", "memory": "raw", "string": "str", "bool": "bool",
                "version": "raw", "strings": "list"}[self.kind]


FIELDS: dict[str, dict[str, Field]] = {
    "cluster": {
        "namespaces": Field("int", "Namespaces in backup scope (a whole-cluster backup covers all of them).",
                            required=True, minimum=1, maximum=100_000),
        "objects": Field("int", "Kubernetes API objects in backup scope, all resource types together.",
                         required=True, minimum=0, maximum=100_000_000),
        "resource_types": Field("int", "Served resource kinds (built-in and CRDs) Velero lists.",
                                required=True, minimum=1, maximum=20_000),
        "largest_resource_type_objects": Field("int", "Objects of the most numerous resource type in backup scope "
                                               "(the server holds one type's whole list at once).",
                                               minimum=0, maximum=100_000_000),
        "namespaced_resource_types": Field("int", "How many of resource_types are namespaced.",
                                           minimum=0, maximum=20_000),
        "api_groups": Field("int", "Served API group-versions (one discovery request each without aggregated discovery).",
                            minimum=1, maximum=20_000),
        "aggregated_discovery": Field("bool", "Whether the API server offers aggregated discovery (Kubernetes 1.27+)."),
        "nodes": Field("int", "Nodes running the node-agent.", minimum=1, maximum=100_000),
        "node_memory": Field("memory", "Allocatable memory of the smallest node that runs the node-agent.",
                             minimum=GiB, maximum=64 * TiB),
        "pods": Field("int", "Pods in backup scope.", minimum=0, maximum=10_000_000),
        "volumes": Field("int", "Persistent volume claims in backup scope (file-system or data-mover backups).",
                         minimum=0, maximum=1_000_000),
    },
    "data": {
        "volume_bytes": Field("size", "Backed-up volume data of all repositories together.",
                              required=True, minimum=0, maximum=100 * PiB),
        "files": Field("int", "Files in the backed-up volumes, all repositories together.",
                       minimum=0, maximum=100_000_000_000),
        "repositories": Field("int", "BackupRepositories (about one per namespace with backed-up volumes).",
                              minimum=0, maximum=1_000_000),
        "largest_repository_bytes": Field("size", "Volume data in the largest repository.",
                                          minimum=0, maximum=100 * PiB),
        "largest_repository_files": Field("int", "Files in the largest repository.",
                                          minimum=0, maximum=100_000_000_000),
        "largest_volume_bytes": Field("size", "Volume data of the largest single backed-up volume (PVC).",
                                      minimum=0, maximum=100 * PiB),
        "largest_volume_files": Field("int", "Files in the largest single backed-up volume (PVC).",
                                      minimum=0, maximum=100_000_000_000),
        "largest_repository_key": Field("string", "Maintenance ConfigMap key of the largest repository, "
                                        "<volumeNamespace>-<bsl>-<repositoryType>.",
                                        pattern=REPOSITORY_KEY_PATTERN, max_length=253),
        "index_blobs": Field("int", "The N of kopia's 'Found too many index blobs (N)'.",
                             minimum=0, maximum=10_000_000),
        "backups_retained": Field("int", "Backups kept per repository (schedule retention).",
                                  minimum=1, maximum=100_000),
        "backups_per_day": Field("number", "Backups per day (schedule frequency).",
                                 minimum=0, exclusive_minimum=True, maximum=1440),
    },
    "policy": {
        "max_client_qps": Field("number", "Never recommend a client QPS above this (also below Velero's default).",
                                minimum=0, exclusive_minimum=True, maximum=100_000),
        "target_api_seconds": Field("number", "Target for the modeled API phase of a whole-cluster backup, in seconds.",
                                    minimum=1, maximum=86_400),
        "max_maintenance_memory": Field("memory", "Cap for the maintenance memory limit.",
                                        minimum=64 * MiB, maximum=4 * TiB),
        "apf_share": Field("number", "Share of the APF priority level workload-low that Velero may occupy.",
                           minimum=0, exclusive_minimum=True, maximum=1),
        "apiserver_concurrency": Field("int", "API server concurrency limit (max-requests-inflight + "
                                       "max-mutating-requests-inflight).", minimum=1, maximum=100_000),
        "node_memory_policy": Field("string", "What to do when a maintenance Job's memory exceeds cluster.node_memory: "
                                    "cap (limit at the node's allocatable memory, with a warning) or fail.",
                                    choices=("cap", "fail")),
    },
    "observed": {
        "maintenance_oom_limit": Field("size", "Highest memory limit at which a maintenance Job pod was OOMKilled.",
                                       minimum=0, maximum=100 * PiB),
        "server_oom_limit": Field("size", "Highest memory limit at which the velero server container was OOMKilled.",
                                  minimum=0, maximum=100 * PiB),
        "node_agent_oom_limit": Field("size", "Highest memory limit at which a node-agent container was OOMKilled.",
                                      minimum=0, maximum=100 * PiB),
        "server_peak_memory": Field("size", "Highest memory use of the velero server seen (metrics API).",
                                    minimum=0, maximum=100 * PiB),
        "maintenance_peak_memory": Field("size", "Highest memory use of a maintenance Job pod seen.",
                                         minimum=0, maximum=100 * PiB),
        "maintenance_failures": Field("int", "Failed maintenance runs in the BackupRepositories' recentMaintenance.",
                                      minimum=0, maximum=1_000_000),
        "evidence": Field("strings", "Where each observed figure came from; echoed in explanations, not used in "
                          "arithmetic."),
    },
}

TOP_LEVEL: dict[str, Field] = {
    "velero_version": Field("version", "Velero version, e.g. 1.14.0.", required=True, pattern=VERSION_PATTERN),
}
SECTION_REQUIRED = {"cluster": True, "data": True, "policy": False, "observed": False}

_FORMS = {
    "int": "an integer",
    "number": "a number",
    "size": "a whole number of bytes or a size string such as 763GB, 1.5Ti or 700Gi",
    "memory": "a whole number of bytes or a Kubernetes memory quantity such as 512Mi or 8Gi",
    "bool": "true or false",
}


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _bounds_text(spec: Field) -> str:
    if spec.minimum is None and spec.maximum is None:
        return ""
    if spec.kind in ("size", "memory"):
        low = format_size(spec.minimum or 0)
        high = format_size(spec.maximum) if spec.maximum is not None else "any"
        return f" from {low} to {high}"
    low_word = "greater than" if spec.exclusive_minimum else "from"
    low = _number_text(spec.minimum) if spec.minimum is not None else None
    high = _number_text(spec.maximum) if spec.maximum is not None else None
    if low is not None and high is not None:
        if spec.exclusive_minimum:
            return f" greater than {low} and at most {high}"
        return f" {low_word} {low} to {high}"
    if low is not None:
        return f" {low_word} {low}" if spec.exclusive_minimum else f" of at least {low}"
    return f" of at most {high}"


def accepted_form(spec: Field) -> str:
    """Human text for what a field accepts, used in every error message."""
    if spec.choices is not None:
        return "one of " + ", ".join(spec.choices)
    if spec.kind == "strings":
        return "a list of strings"
    if spec.kind == "string":
        return "a string of letters, digits, '-', '.' or '_'"
    if spec.kind == "version":
        return f"a quoted Velero version such as \"1.14.0\" ({SUPPORTED_RANGE})"
    return _FORMS[spec.kind] + _bounds_text(spec)


def _check_bounds(path: str, spec: Field, number: float, shown: t.Any) -> None:
    too_low = spec.minimum is not None and (number <= spec.minimum if spec.exclusive_minimum else number < spec.minimum)
    too_high = spec.maximum is not None and number > spec.maximum
    if too_low or too_high:
        raise ValueError(f"{path}: expected {accepted_form(spec)}, got {_describe(shown)}")


def _field_value(path: str, spec: Field, value: t.Any) -> t.Any:
    """Check one present, non-null value and return it normalised (sizes in bytes)."""
    kind = spec.kind
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{path}: expected {accepted_form(spec)}, got {_describe(value)}")
        return value
    if kind == "strings":
        if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
            raise ValueError(f"{path}: expected {accepted_form(spec)}, got {type_name(value)} {_describe(value)}")
        return [str(item) for item in value]
    if spec.choices is not None:
        if not isinstance(value, str) or value not in spec.choices:
            raise ValueError(f"{path}: expected {accepted_form(spec)}, got {_describe(value)}")
        return value
    if kind == "string":
        if not isinstance(value, str) or not re.match(t.cast(str, spec.pattern), value) or (
                spec.max_length is not None and len(value) > spec.max_length):
            raise ValueError(f"{path}: expected {accepted_form(spec)} (at most {spec.max_length} characters), "
                             f"got {_describe(value)}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{path}: expected {accepted_form(spec)}, got {type_name(value)} {_describe(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{path}: expected {accepted_form(spec)}, got {_describe(value)}")
    if kind in ("int", "number"):
        if isinstance(value, str):
            raise ValueError(f"{path}: expected {accepted_form(spec)}, got the string {_describe(value)}")
        if kind == "int":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(f"{path}: expected {accepted_form(spec)}, got {_describe(value)}")
            value = int(value)
        _check_bounds(path, spec, value, value)
        return value
    # size / memory: integral numbers of bytes or strings.
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{path}: expected {accepted_form(spec)}, got {_describe(value)}")
        value = int(value)
    if isinstance(value, str):
        pattern = SIZE_PATTERN if kind == "size" else MEMORY_PATTERN
        if not re.match(pattern, value):
            raise ValueError(f"{path}: expected {accepted_form(spec)}, got {_describe(value)}")
    number = parse_size(value, path) if kind == "size" else parse_memory(value, path)
    _check_bounds(path, spec, number, value)
    return number


def _section(path: str, fields: dict[str, Field], value: t.Any) -> dict[str, t.Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{path}: expected a mapping with keys {', '.join(fields)}, got {type_name(value)} "
                         f"{_describe(value)}")
    unknown = sorted(str(key) for key in value if key not in fields)
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {', '.join(unknown)}; accepted keys are {', '.join(fields)}")
    result: dict[str, t.Any] = {}
    for name, spec in fields.items():
        raw = value.get(name)
        if raw is None:
            if spec.required:
                raise ValueError(f"{path}.{name}: required, expected {accepted_form(spec)}")
            result[name] = None
            continue
        result[name] = _field_value(f"{path}.{name}", spec, raw)
    return result


def _version(value: t.Any) -> VeleroRelease:
    if isinstance(value, float):
        raise ValueError(f"velero_version: got the number {value!r}: YAML reads an unquoted version such as 1.14 "
                         f"as a float; quote it, e.g. velero_version: \"1.14.0\" ({SUPPORTED_RANGE})")
    if value is None:
        raise ValueError(f"velero_version: required, expected {accepted_form(TOP_LEVEL['velero_version'])}")
    if not isinstance(value, str):
        raise ValueError(f"velero_version: expected {accepted_form(TOP_LEVEL['velero_version'])}, "
                         f"got {type_name(value)} {_describe(value)}")
    return release(value)


@dataclasses.dataclass(frozen=True)
class SizingInputs:
    """Validated inputs; sizes are whole bytes, unknown optional values are None."""

    release: VeleroRelease
    cluster: dict[str, t.Any]
    data: dict[str, t.Any]
    policy: dict[str, t.Any]
    observed: dict[str, t.Any] = dataclasses.field(default_factory=dict)


def validate(inputs: t.Any) -> SizingInputs:
    """Check every field of the sizing inputs; raise ValueError naming the first bad field."""
    if not isinstance(inputs, dict):
        raise ValueError(f"inputs: expected a mapping with keys velero_version, cluster, data, policy, observed, got "
                         f"{type_name(inputs)}")
    known = list(TOP_LEVEL) + list(FIELDS)
    unknown = sorted(str(key) for key in inputs if key not in known)
    if unknown:
        raise ValueError(f"inputs: unknown key(s) {', '.join(unknown)}; accepted keys are {', '.join(known)}")
    version = _version(inputs.get("velero_version"))
    sections: dict[str, dict[str, t.Any]] = {}
    for name, fields in FIELDS.items():
        raw = inputs.get(name)
        if raw is None:
            if SECTION_REQUIRED[name]:
                required = [key for key, spec in fields.items() if spec.required]
                raise ValueError(f"{name}: required, expected a mapping with at least {', '.join(required)}")
            raw = {}
        sections[name] = _section(name, fields, raw)
    _cross_checks(sections)
    return SizingInputs(version, sections["cluster"], sections["data"], sections["policy"], sections["observed"])


def _cross_checks(sections: dict[str, dict[str, t.Any]]) -> None:
    """Relations between fields that a JSON Schema cannot express."""
    cluster, data = sections["cluster"], sections["data"]
    largest_type = cluster["largest_resource_type_objects"]
    if largest_type is not None and largest_type > cluster["objects"]:
        raise ValueError(f"cluster.largest_resource_type_objects: expected at most cluster.objects "
                         f"({cluster['objects']}), got {largest_type}")
    if cluster["namespaced_resource_types"] is not None and cluster["namespaced_resource_types"] > cluster["resource_types"]:
        raise ValueError(f"cluster.namespaced_resource_types: expected at most cluster.resource_types "
                         f"({cluster['resource_types']}), got {cluster['namespaced_resource_types']}")
    if data["largest_repository_bytes"] is not None and data["largest_repository_bytes"] > data["volume_bytes"]:
        raise ValueError(f"data.largest_repository_bytes: expected at most data.volume_bytes "
                         f"({data['volume_bytes']} bytes), got {data['largest_repository_bytes']} bytes")
    if data["files"] is not None and data["largest_repository_files"] is not None \
            and data["largest_repository_files"] > data["files"]:
        raise ValueError(f"data.largest_repository_files: expected at most data.files ({data['files']}), "
                         f"got {data['largest_repository_files']}")
    # A volume lives in one repository: at most the largest repository, at most everything.
    for volume_key, bound_keys in (("largest_volume_bytes", ("largest_repository_bytes", "volume_bytes")),
                                   ("largest_volume_files", ("largest_repository_files", "files"))):
        for bound_key in bound_keys:
            if data[volume_key] is not None and data[bound_key] is not None and data[volume_key] > data[bound_key]:
                raise ValueError(f"data.{volume_key}: expected at most data.{bound_key} ({data[bound_key]}), "
                                 f"got {data[volume_key]}")


def section_shape_problem(params: t.Mapping[str, t.Any]) -> str | None:
    """The first section (cluster, data, policy) that is set but not a mapping, as a message; else None.

    Ansible's argument validation cannot report this case itself (a list of numbers where a dict with options
    is expected crashes inside ansible-core), so the module and the render_values action check it first.
    """
    for name, fields in FIELDS.items():
        value = params.get(name)
        if value is None or isinstance(value, t.Mapping):
            continue
        required = [key for key, spec in fields.items() if spec.required]
        shape = f"at least {', '.join(required)}" if required else f"any of {', '.join(fields)}"
        return (f"{name}: expected a mapping with {shape}, got {type_name(value)} {_describe(value)}")
    return None


def argument_spec() -> dict[str, t.Any]:
    """Ansible argument_spec of the sizing module, derived from ``FIELDS`` so it cannot drift."""
    spec: dict[str, t.Any] = {"velero_version": {"type": "raw", "required": True}}
    for section, fields in FIELDS.items():
        options = {}
        for name, field in fields.items():
            option: dict[str, t.Any] = {"type": field.ansible_type}
            if field.kind == "strings":
                option["elements"] = "str"
                option["no_log"] = False  # free text about where a figure came from, not a secret
            if field.choices is not None:
                option["choices"] = list(field.choices)
            if field.required:
                option["required"] = True
            if field.kind == "string":
                option["no_log"] = False  # a ConfigMap key such as prod-default-kopia, not a secret
            options[name] = option
        spec[section] = {"type": "dict", "required": SECTION_REQUIRED[section], "options": options}
    return spec


__all__ = ["FIELDS", "TOP_LEVEL", "SECTION_REQUIRED", "Field", "SizingInputs", "validate", "argument_spec",
           "accepted_form", "section_shape_problem"]
