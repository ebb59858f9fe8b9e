# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Small helpers every input validator shares, so error messages read the same everywhere.

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
