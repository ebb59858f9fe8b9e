# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one place where ``cluster_facts`` checks what the API server sent before anything reads it.

An API server (or an aggregated API, a broken conversion webhook, a proxy) can answer with a string, a
number or null where an object or a list belongs. Every object ``_facts_gather`` hands to the pure logic
goes through ``check_object`` first, so the logic may use ``.get`` freely; a bad object raises
``MalformedObject`` naming its kind, namespace/name and the field, never ``'str' object has no attribute
'get'``.

``SHAPES`` lists, per kind, the fields the collection reads and the JSON type each must have when present
(``None``/absent is always accepted: the readers treat it as unknown). ``[]`` in a path means "every element
of this list".
"""

from __future__ import annotations

import typing as t

# JSON types by name; "int" excludes booleans, "quantity" is a Kubernetes quantity (string or number).
_FORMS = {
    "object": "an object",
    "list": "a list",
    "string": "a string",
    "int": "an integer",
    "bool": "true or false",
    "quantity": "a quantity (string or number)",
    "scalar": "a string, number or boolean",
}

_CONTAINER = {
    "name": "string",
    "command": "list",
    "command[]": "scalar",
    "args": "list",
    "args[]": "scalar",
    "image": "string",
    "resources": "object",
    "resources.limits": "object",
    "resources.limits.memory": "quantity",
    "resources.limits.cpu": "quantity",
    "resources.requests": "object",
    "resources.requests.memory": "quantity",
    "resources.requests.cpu": "quantity",
}


def _prefixed(prefix: str, fields: t.Mapping[str, str]) -> dict[str, str]:
    return {f"{prefix}.{path}": form for path, form in fields.items()}


_TEMPLATE_CONTAINERS = {"spec": "object", "spec.template": "object", "spec.template.spec": "object",
                        "spec.template.spec.containers": "list", "spec.template.spec.containers[]": "object",
                        **_prefixed("spec.template.spec.containers[]", _CONTAINER)}

_TERMINATED = {"reason": "string", "exitCode": "int", "finishedAt": "string"}
_CONTAINER_STATUS = {
    "name": "string", "restartCount": "int", "state": "object", "lastState": "object",
    "state.terminated": "object", "lastState.terminated": "object",
    **_prefixed("state.terminated", _TERMINATED), **_prefixed("lastState.terminated", _TERMINATED),
}

_METADATA = {"metadata": "object", "metadata.name": "string", "metadata.namespace": "string",
             "metadata.labels": "object", "metadata.annotations": "object", "metadata.annotations.*": "string",
             "metadata.deletionTimestamp": "string", "metadata.creationTimestamp": "string"}

SHAPES: dict[str, dict[str, str]] = {
    "Namespace": {"status": "object", "status.phase": "string"},
    "PartialObjectMetadata": {},
    "PersistentVolumeClaim": {"status": "object", "status.phase": "string", "status.capacity": "object",
                              "status.capacity.storage": "quantity"},
    "Deployment": {**_TEMPLATE_CONTAINERS, "spec.replicas": "int"},
    "DaemonSet": dict(_TEMPLATE_CONTAINERS),
    "ConfigMap": {"data": "object", "data.*": "string"},
    "Pod": {"spec": "object", "spec.nodeName": "string", "spec.containers": "list", "spec.containers[]": "object",
            **_prefixed("spec.containers[]", _CONTAINER), "status": "object", "status.phase": "string",
            "status.containerStatuses": "list", "status.containerStatuses[]": "object",
            **_prefixed("status.containerStatuses[]", _CONTAINER_STATUS)},
    "Node": {"spec": "object", "spec.unschedulable": "bool", "status": "object", "status.allocatable": "object",
             "status.allocatable.memory": "quantity"},
    "PodMetrics": {"containers": "list", "containers[]": "object", "containers[].name": "string",
                   "containers[].usage": "object", "containers[].usage.memory": "quantity"},
    "BackupStorageLocation": {"spec": "object", "spec.provider": "string", "spec.default": "bool",
                              "spec.accessMode": "string", "spec.objectStorage": "object",
                              "spec.objectStorage.bucket": "string", "spec.objectStorage.prefix": "string",
                              "status": "object", "status.phase": "string", "status.lastValidationTime": "string"},
    "BackupRepository": {"spec": "object", "spec.volumeNamespace": "string", "spec.backupStorageLocation": "string",
                         "spec.repositoryType": "string", "spec.maintenanceFrequency": "string", "status": "object",
                         "status.phase": "string", "status.message": "string", "status.lastMaintenanceTime": "string",
                         "status.recentMaintenance": "list", "status.recentMaintenance[]": "object",
                         "status.recentMaintenance[].result": "string", "status.recentMaintenance[].message": "string",
                         "status.recentMaintenance[].startTimestamp": "string"},
    "Backup": {"status": "object", "status.phase": "string", "status.startTimestamp": "string"},
    "DataUpload": {"spec": "object", "spec.sourceNamespace": "string", "spec.sourcePVC": "string",
                   "spec.backupStorageLocation": "string", "status": "object", "status.phase": "string",
                   "status.completionTimestamp": "string", "status.progress": "object",
                   "status.progress.totalBytes": "int"},
    "PodVolumeBackup": {"spec": "object", "spec.pod": "object", "spec.pod.namespace": "string",
                        "spec.pod.name": "string", "spec.volume": "string", "spec.backupStorageLocation": "string",
                        "spec.uploaderType": "string", "status": "object", "status.phase": "string",
                        "status.completionTimestamp": "string", "status.progress": "object",
                        "status.progress.totalBytes": "int"},
}


class MalformedObject(ValueError):
    """An API object (or list answer) has the wrong JSON type at ``field``."""

    def __init__(self, kind: str, name: str, field: str, expected: str, got: t.Any) -> None:
        self.kind = kind
        self.name = name
        self.field = field
        shown = repr(got)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        super().__init__(f"{kind} {name}: {field}: expected {_FORMS.get(expected, expected)}, got "
                         f"{_json_type(got)} {shown}")


def _json_type(value: t.Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _matches(value: t.Any, form: str) -> bool:
    if form == "object":
        return isinstance(value, dict)
    if form == "list":
        return isinstance(value, list)
    if form == "string":
        return isinstance(value, str)
    if form == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if form == "bool":
        return isinstance(value, bool)
    if form == "quantity":
        return isinstance(value, str) or (isinstance(value, (int, float)) and not isinstance(value, bool))
    if form == "scalar":
        return isinstance(value, (str, int, float, bool))
    raise ValueError(f"unknown form {form!r}")  # pragma: no cover - a typo in SHAPES


def object_name(obj: t.Any) -> str:
    """``namespace/name`` (or ``name``) for messages; tolerant of a broken ``metadata``."""
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    if not isinstance(meta, dict):
        return "(unnamed)"
    name = meta.get("name") if isinstance(meta.get("name"), str) else "(unnamed)"
    namespace = meta.get("namespace")
    return f"{namespace}/{name}" if isinstance(namespace, str) and namespace else str(name)


def _walk(node: t.Any, parts: list[str], trail: str, form: str, kind: str, name: str) -> None:
    if not parts:
        if node is not None and not _matches(node, form):
            raise MalformedObject(kind, name, trail, form, node)
        return
    if node is None:
        return
    part, rest = parts[0], parts[1:]
    if part == "*":
        if isinstance(node, dict):
            for key in sorted(node, key=str):
                _walk(node[key], rest, f"{trail}.{key}", form, kind, name)
        return
    list_part = part.endswith("[]")
    key = part[:-2] if list_part else part
    if not isinstance(node, dict):
        return  # the parent's own entry in SHAPES reports it
    child = node.get(key)
    here = f"{trail}.{key}" if trail else key
    if list_part:
        if not isinstance(child, list):
            return
        for index, element in enumerate(child):
            _walk(element, rest, f"{here}[{index}]", form, kind, name)
        return
    _walk(child, rest, here, form, kind, name)


def check_object(obj: t.Any, kind: str) -> dict[str, t.Any]:
    """``obj`` if every field ``SHAPES[kind]`` names has its type (or is absent), else ``MalformedObject``."""
    name = object_name(obj)
    if not isinstance(obj, dict):
        raise MalformedObject(kind, name, "(the object)", "object", obj)
    for path, form in sorted({**_METADATA, **SHAPES.get(kind, {})}.items(), key=lambda item: item[0].count(".")):
        _walk(obj, path.split("."), "", form, kind, name)
    return obj


def check_list_page(page: t.Any, what: str) -> list[t.Any]:
    """The ``items`` of one list answer (a list), checking ``items`` and ``metadata`` themselves."""
    if not isinstance(page, dict):
        raise MalformedObject("list", what, "(the answer)", "object", page)
    meta = page.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        raise MalformedObject("list", what, "metadata", "object", meta)
    items = page.get("items")
    if items is None:
        return []
    if not isinstance(items, list):
        raise MalformedObject("list", what, "items", "list", items)
    return items
