# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The shapes ``repo_maintenance`` relies on in what the API returns, checked in one place.

Every object the maintenance runner reads passes through ``check_object`` (one object) or
``check_list_page`` (one page of a list) before any decision looks at it, so a string, number or null
where an object, list or integer belongs fails with the object's kind, namespace/name and the field,
for example ``Job velero/x-maintain-job-1: status.succeeded: expected an integer, got 'abc'`` - never
``'str' object has no attribute 'get'`` half-way through a follow, when the report would be lost.

Only the fields the runner reads are described. Kubernetes omits unset optional fields, so null is the
same as absent, except where a field is required (``metadata.name``).

Pure Python, no Ansible imports; raises ``MalformedObject`` (a ``ValueError``).
"""

from __future__ import annotations

import typing as t

from ansible_collections.velero_ops.tuning.plugins.module_utils._fields import describe_value, type_name


class MalformedObject(ValueError):
    """An API object does not have the shape Kubernetes/Velero give it; names kind, object and field."""

    def __init__(self, kind: str, where: str, field: str, expected: str, value: t.Any) -> None:
        self.kind = kind
        self.where = where
        self.field = field
        self.expected = expected
        got = "null" if value is None else f"{type_name(value)} {describe_value(value)}"
        super().__init__(f"{kind} {where}: {field}: expected {expected}, got {got} (not what Kubernetes or Velero "
                         f"write)")


# Expected forms. Each is (description, test).
_Check = tuple[str, t.Callable[[t.Any], bool]]
OBJECT: _Check = ("an object", lambda v: isinstance(v, dict))
LIST: _Check = ("a list", lambda v: isinstance(v, list))
STRING: _Check = ("a string", lambda v: isinstance(v, str))
INTEGER: _Check = ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool))
QUANTITY: _Check = ("a quantity (string or number)",
                    lambda v: isinstance(v, (str, int, float)) and not isinstance(v, bool))
STRING_MAP: _Check = ("an object of strings",
                      lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()))
STRING_LIST: _Check = ("a list of strings", lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v))

_METADATA = (("metadata", OBJECT, True), ("metadata.name", STRING, True), ("metadata.namespace", STRING, False),
             ("metadata.resourceVersion", STRING, False), ("metadata.creationTimestamp", STRING, False),
             ("metadata.labels", STRING_MAP, False), ("metadata.annotations", STRING_MAP, False))
_CONDITIONS = tuple((f"status.conditions[].{key}", STRING, False) for key in ("type", "status", "reason", "message"))


def _terminated(prefix: str) -> tuple[tuple[str, _Check, bool], ...]:
    return ((prefix, OBJECT, False), (f"{prefix}.terminated", OBJECT, False),
            (f"{prefix}.terminated.reason", STRING, False), (f"{prefix}.terminated.exitCode", INTEGER, False),
            (f"{prefix}.terminated.message", STRING, False), (f"{prefix}.terminated.finishedAt", STRING, False),
            (f"{prefix}.terminated.startedAt", STRING, False))


_POD = _METADATA + (
    ("status", OBJECT, False), ("status.phase", STRING, False), ("status.reason", STRING, False),
    ("status.message", STRING, False), ("status.conditions", LIST, False), ("status.conditions[]", OBJECT, False))
_POD += _CONDITIONS + (("status.containerStatuses", LIST, False), ("status.containerStatuses[]", OBJECT, False))
_POD += _terminated("status.containerStatuses[].state") + _terminated("status.containerStatuses[].lastState")

# Path syntax: dots between keys, ``[]`` for every element of a list. (path, form, required)
SHAPES: dict[str, tuple[tuple[str, _Check, bool], ...]] = {
    "BackupRepository": _METADATA + (
        ("spec", OBJECT, False), ("spec.volumeNamespace", STRING, False), ("spec.backupStorageLocation", STRING, False),
        ("spec.repositoryType", STRING, False), ("spec.maintenanceFrequency", STRING, False),
        ("spec.repositoryConfig", STRING_MAP, False),
        ("status", OBJECT, False), ("status.phase", STRING, False), ("status.message", STRING, False),
        ("status.lastMaintenanceTime", STRING, False), ("status.recentMaintenance", LIST, False),
        ("status.recentMaintenance[]", OBJECT, False), ("status.recentMaintenance[].result", STRING, False),
        ("status.recentMaintenance[].message", STRING, False),
        ("status.recentMaintenance[].startTimestamp", STRING, False),
        ("status.recentMaintenance[].completeTimestamp", STRING, False)),
    # What putting a temporary change back reads: only its own fields, so a broken history or status elsewhere on
    # the object never stops a restore.
    "BackupRepository:restore": _METADATA + (
        ("spec", OBJECT, False), ("spec.maintenanceFrequency", STRING, False), ("status", OBJECT, False),
        ("status.lastMaintenanceTime", STRING, False)),
    "BackupStorageLocation": _METADATA + (
        ("spec", OBJECT, False), ("spec.accessMode", STRING, False), ("status", OBJECT, False),
        ("status.phase", STRING, False)),
    "Backup": _METADATA + (
        ("spec", OBJECT, False), ("spec.storageLocation", STRING, False),
        ("spec.includedNamespaces", STRING_LIST, False), ("spec.excludedNamespaces", STRING_LIST, False),
        ("status", OBJECT, False), ("status.phase", STRING, False)),
    "Restore": _METADATA + (
        ("spec", OBJECT, False), ("spec.backupName", STRING, False), ("spec.includedNamespaces", STRING_LIST, False),
        ("spec.excludedNamespaces", STRING_LIST, False), ("status", OBJECT, False), ("status.phase", STRING, False)),
    "DeleteBackupRequest": _METADATA + (
        ("spec", OBJECT, False), ("spec.backupName", STRING, False), ("status", OBJECT, False),
        ("status.phase", STRING, False)),
    "ConfigMap": _METADATA + (("data", STRING_MAP, False),),
    "Deployment": _METADATA + (
        ("spec", OBJECT, False), ("spec.template", OBJECT, False), ("spec.template.spec", OBJECT, False),
        ("spec.template.spec.containers", LIST, False), ("spec.template.spec.containers[]", OBJECT, False),
        ("spec.template.spec.containers[].name", STRING, False),
        ("spec.template.spec.containers[].image", STRING, False),
        ("spec.template.spec.containers[].command", STRING_LIST, False),
        ("spec.template.spec.containers[].args", STRING_LIST, False)),
    "Job": _METADATA + (
        ("spec", OBJECT, False), ("spec.template", OBJECT, False), ("spec.template.spec", OBJECT, False),
        ("spec.template.spec.containers", LIST, False), ("spec.template.spec.containers[]", OBJECT, False),
        ("spec.template.spec.containers[].resources", OBJECT, False),
        ("spec.template.spec.containers[].resources.limits", OBJECT, False),
        ("spec.template.spec.containers[].resources.limits.memory", QUANTITY, False),
        ("status", OBJECT, False), ("status.active", INTEGER, False), ("status.succeeded", INTEGER, False),
        ("status.failed", INTEGER, False), ("status.startTime", STRING, False), ("status.completionTime", STRING, False),
        ("status.conditions", LIST, False), ("status.conditions[]", OBJECT, False)) + _CONDITIONS,
    "Pod": _POD,
}


def _where(obj: t.Any, namespace: str | None) -> str:
    name = obj.get("metadata", {}).get("name") if isinstance(obj, dict) and isinstance(obj.get("metadata"), dict) \
        else None
    shown = name if isinstance(name, str) and name else "(unnamed)"
    return f"{namespace}/{shown}" if namespace else shown


def _walk(obj: t.Any, parts: t.Sequence[str], shown: str) -> t.Iterator[tuple[str, t.Any]]:
    """(shown path, value) for every place ``parts`` reaches; a null or absent level ends the walk there
    (a null leaf is yielded, so a required field can be reported)."""
    if not parts:
        yield shown, obj
        return
    if not isinstance(obj, dict):
        return  # the rule for the parent reports it
    head, rest = parts[0], parts[1:]
    key = head[:-2] if head.endswith("[]") else head
    value = obj.get(key)
    path = f"{shown}.{key}" if shown else key
    if head.endswith("[]"):
        if isinstance(value, list):
            for index, item in enumerate(value):
                yield from _walk(item, rest, f"{path}[{index}]")
        return
    if value is None:
        if not rest:
            yield path, None
        return
    yield from _walk(value, rest, path)


def check_object(shape: str, obj: t.Any, namespace: str | None = None) -> dict[str, t.Any]:
    """``obj`` itself when it has the shape ``SHAPES[shape]`` describes (``Kind`` or ``Kind:purpose``);
    MalformedObject otherwise."""
    kind = shape.split(":", 1)[0]
    if not isinstance(obj, dict):
        raise MalformedObject(kind, f"{namespace}/(unnamed)" if namespace else "(unnamed)", "(object)",
                              "an object", obj)
    where = _where(obj, namespace)
    for path, (expected, test), required in SHAPES[shape]:
        element = path.endswith("[]")
        for shown, value in _walk(obj, path.split("."), ""):
            if value is None and not element:
                if required:
                    raise MalformedObject(kind, where, shown, expected, value)
                continue
            if not test(value):
                raise MalformedObject(kind, where, shown, expected, value)
    return obj


def check_list_page(shape: str, page: t.Any, namespace: str | None = None) -> tuple[list[dict[str, t.Any]], str | None]:
    """Items (each checked as ``kind``) and the continue token of one list page.

    ``items: null`` is an empty page (servers written in Go send it for an empty slice).
    """
    kind = shape.split(":", 1)[0]
    where = f"in {namespace}" if namespace else "(cluster)"
    if not isinstance(page, dict):
        raise MalformedObject(f"{kind}List", where, "(list)", "an object", page)
    items = page.get("items")
    if items is not None and not isinstance(items, list):
        raise MalformedObject(f"{kind}List", where, "items", "a list", items)
    metadata = page.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise MalformedObject(f"{kind}List", where, "metadata", "an object", metadata)
    token = (metadata or {}).get("continue")
    if token is not None and not isinstance(token, str):
        raise MalformedObject(f"{kind}List", where, "metadata.continue", "a string", token)
    checked = [check_object(shape, item, namespace) for item in items or []]
    return checked, token or None
