# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Restore marks: a temporary BackupRepository change recorded on the object itself.

``repo_maintenance`` makes a repository due by writing a temporary value (``spec.maintenanceFrequency: 1m``
or ``status.lastMaintenanceTime: null``). The same merge patch that writes it also writes an annotation
holding the original value and the time, so the record exists exactly when the change does - also when
the module is killed (SIGKILL, a lost controller) before it can put the value back. The restore patch
removes the annotation together with the value. Every later run (and ``cluster_facts``, as drift) finds
a leftover annotation and restores or reports it.

Annotation value (JSON): ``{"field": "spec.maintenanceFrequency", "original": "1h0m0s", "temporary": "1m",
"since": "2026-12-04T14:50:00Z", "by": "velero_ops.tuning.repo_maintenance"}``.

Pure Python, no Ansible imports.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import typing as t

# Every restore mark starts with this prefix (cluster_facts detects leftovers by it).
ANNOTATION_PREFIX = "velero-ops.tuning/restore-"
ANNOTATIONS = {
    "frequency": ANNOTATION_PREFIX + "maintenance-frequency",
    "last_maintenance_time": ANNOTATION_PREFIX + "last-maintenance-time",
}
FIELDS = {"frequency": ("spec", "maintenanceFrequency"), "last_maintenance_time": ("status", "lastMaintenanceTime")}
TEMPORARY_VALUES = {"frequency": "1m", "last_maintenance_time": None}
WRITER = "velero_ops.tuning.repo_maintenance"


@dataclasses.dataclass(frozen=True)
class Mark:
    """One restore annotation found on a BackupRepository."""

    annotation: str
    method: str | None  # trigger method whose field it records; None when the annotation name is unknown
    field: str
    original: t.Any = None
    temporary: t.Any = None
    since: str | None = None
    problem: str | None = None  # why the annotation cannot be used to restore (then nothing is changed)


def field_name(method: str) -> str:
    return ".".join(FIELDS[method])


def _field_value(repository: t.Mapping[str, t.Any], method: str) -> t.Any:
    section, key = FIELDS[method]
    part = repository.get(section)
    return part.get(key) if isinstance(part, dict) else None


def _annotations(repository: t.Mapping[str, t.Any]) -> t.Mapping[str, t.Any]:
    metadata = repository.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    return annotations if isinstance(annotations, dict) else {}


def _resource_version(repository: t.Mapping[str, t.Any]) -> t.Any:
    metadata = repository.get("metadata")
    return metadata.get("resourceVersion") if isinstance(metadata, dict) else None


def encode_mark(method: str, original: t.Any, since: str) -> str:
    return json.dumps({"field": field_name(method), "original": original, "temporary": TEMPORARY_VALUES[method],
                       "since": since, "by": WRITER}, sort_keys=True)


def read_marks(repository: t.Mapping[str, t.Any]) -> list[Mark]:
    """Every restore annotation on the repository, decoded; an unusable one carries ``problem``."""
    by_name = {name: method for method, name in ANNOTATIONS.items()}
    marks = []
    for name, text in sorted(_annotations(repository).items()):
        if not str(name).startswith(ANNOTATION_PREFIX):
            continue
        method = by_name.get(name)
        field = field_name(method) if method else "?"
        if method is None:
            problem = f"unknown restore annotation {name} (from a newer version of the collection?); left as is"
            marks.append(Mark(name, None, field, problem=problem))
            continue
        try:
            value = json.loads(text) if isinstance(text, str) else None
        except ValueError:
            value = None
        if not isinstance(value, dict) or "original" not in value or value.get("field") != field:
            problem = f"annotation {name} does not hold what repo_maintenance writes ({text!r:.120}); left as is"
            marks.append(Mark(name, method, field, problem=problem))
            continue
        original = value["original"]
        if original is not None and not isinstance(original, str):
            problem = f"annotation {name}: original is not a string or null ({original!r:.60}); left as is"
            marks.append(Mark(name, method, field, problem=problem))
            continue
        since = value.get("since")
        marks.append(Mark(name, method, field, original=original, temporary=TEMPORARY_VALUES[method],
                          since=since if isinstance(since, str) else None))
    return marks


def has_mark(repository: t.Mapping[str, t.Any], method: str) -> bool:
    return ANNOTATIONS[method] in _annotations(repository)


def add_mark(patch: dict[str, t.Any], method: str, original: t.Any, since: str) -> dict[str, t.Any]:
    """``patch`` (a trigger patch) that also records the original in the method's annotation."""
    patch.setdefault("metadata", {}).setdefault("annotations", {})[ANNOTATIONS[method]] = encode_mark(
        method, original, since)
    return patch


def restore_patch(repository: t.Mapping[str, t.Any], method: str, original: t.Any) -> dict[str, t.Any] | None:
    """Merge patch that ends a temporary change: the field back to ``original`` if it still holds the
    temporary value (and the original differs from it), the restore mark removed if present; None when
    there is nothing to do. Carries the repository's resourceVersion (a concurrent write -> 409)."""
    patch: dict[str, t.Any] = {}
    if _field_value(repository, method) == TEMPORARY_VALUES[method] and original != TEMPORARY_VALUES[method]:
        section, key = FIELDS[method]
        patch[section] = {key: original}
    if has_mark(repository, method):
        patch["metadata"] = {"annotations": {ANNOTATIONS[method]: None}}
    if not patch:
        return None
    version = _resource_version(repository)
    if version:
        patch.setdefault("metadata", {})["resourceVersion"] = version
    return patch


def puts_back(patch: t.Mapping[str, t.Any] | None, method: str) -> bool:
    """Whether a patch from ``restore_patch`` writes the field (not only removes the mark)."""
    return bool(patch) and FIELDS[method][0] in t.cast(t.Mapping[str, t.Any], patch)


def manual_body(method: str, original: t.Any) -> dict[str, t.Any]:
    """What a person patches by hand: the original value back and the mark removed (no resourceVersion)."""
    section, key = FIELDS[method]
    return {section: {key: original}, "metadata": {"annotations": {ANNOTATIONS[method]: None}}}


def undo_command(namespace: str, name: str, body: t.Mapping[str, t.Any]) -> str:
    """``kubectl ... patch ... -p '<json>'`` that is safe to paste into a shell whatever the values hold:
    the JSON is built by ``json.dumps`` and every argument is quoted by ``shlex.quote`` (a frequency such as
    ``1h0m0s'; touch /tmp/x; echo '`` stays one argument)."""
    patch = json.dumps(body, separators=(",", ":"))
    return " ".join(["kubectl", "-n", shlex.quote(namespace), "patch", "backuprepository", shlex.quote(name),
                     "--type", "merge", "-p", shlex.quote(patch)])
