# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Small helpers every input validator shares, so error messages read the same everywhere, and the one nested
lookup (``nested_get``) every module uses to read a field of a mapping by path.

Pure Python, no Ansible imports; raises ``ValueError`` naming the field and the accepted form.
"""

from __future__ import annotations

import typing as t


def describe_value(value: t.Any) -> str:
    """The offending value for an error message: its repr, shortened so one bad input stays one line."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def type_name(value: t.Any) -> str:
    """A plain name for the type of a value, for messages: ``list``, not an internal subclass name.

    Ansible hands plugins subclasses of the builtin types (for example tagged lists); users wrote YAML, so a
    message names the YAML-level type.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, t.Mapping):
        return "mapping"
    if isinstance(value, (list, tuple, set, frozenset)):
        return "list"
    return type(value).__name__.lstrip("_")


def string_list(value: t.Any, field: str, what: str = "string") -> tuple[str, ...]:
    """A list of non-empty strings (stripped, first occurrence kept); None is the empty list."""
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ValueError(f"{field}: expected a list of {what}s, got {describe_value(value)}")
    items: list[str] = []
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"{field}[{index}]: expected a non-empty {what}, got {describe_value(item)}")
        if item.strip() not in items:
            items.append(item.strip())
    return tuple(items)


def nested_get(mapping: t.Any, path: str | t.Sequence[str], default: t.Any = None) -> t.Any:
    """The value at ``path`` in nested mappings, or ``default`` when a level is missing, null or not a mapping.

    ``path`` is a dotted string (``"spec.backupStorageLocation"``) or a sequence of keys, for keys that may
    themselves hold dots (Kubernetes object names).
    """
    keys = path.split(".") if isinstance(path, str) else path
    node = mapping
    for key in keys:
        if not isinstance(node, t.Mapping) or node.get(key) is None:
            return default
        node = node[key]
    return node


def to_plain(value: t.Any) -> t.Any:
    """Deep copy into plain dict/list/str/int/float/bool/None (drops subclasses such as tagged strings)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, t.Mapping):
        return {str(key): to_plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(item) for item in value]
    raise ValueError(f"values: unsupported value of type {type_name(value)}: {describe_value(value)}")
