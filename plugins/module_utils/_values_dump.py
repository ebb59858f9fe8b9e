# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helm values as YAML, in and out: the user's overrides read, the rendered values written so Helm reads them
back exactly (quantities and big numbers quoted: Helm prints YAML numbers >= 1e6 as 1e+06, which Velero's int
flags cannot parse).

Pure Python, no Ansible imports; raises ``ValueError`` naming the field to fix.
"""

from __future__ import annotations

import math
import typing as t

from ._fields import describe_value, to_plain, type_name

try:
    import yaml
    HAS_YAML = True
    YAML_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - PyYAML ships with ansible-core
    HAS_YAML = False
    YAML_IMPORT_ERROR = str(exc)

# Helm prints YAML numbers >= 1e6 in exponent form (1e+06), which Velero's int flags cannot parse.
HELM_EXPONENT_THRESHOLD = 1_000_000


def helm_number(value: t.Any, field: str, integer: bool) -> int | float | str:
    """A number for a key the chart prints with ``{{ . }}``; quoted from 1e6 up so Helm does not print 1e+06."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{field}: expected a number, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{field}: expected a number, got {value!r}") from None
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{field}: expected a non-negative number, got {value!r}")
    if integer and not number.is_integer():
        raise ValueError(f"{field}: expected a whole number, got {value!r}")
    result: int | float = int(number) if number.is_integer() else number
    if abs(result) >= HELM_EXPONENT_THRESHOLD:
        return str(result)
    return result


def load_overrides(value: t.Any, field: str = "velero_values_overrides", *, source: str | None = None) -> dict:
    """The user's values: a mapping, or YAML text (from a file named ``source``)."""
    if value is None:
        return {}
    if isinstance(value, str):
        if not HAS_YAML:
            raise ValueError(f"{field}: reading YAML needs PyYAML: {YAML_IMPORT_ERROR}")
        where = source or field
        try:
            loaded = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ValueError(f"{field}: {where} is not valid YAML{at}: {problem}") from None
        if loaded is None:
            return {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{field}: {where} must hold a mapping of Helm values, got a {type_name(loaded)}")
        return t.cast(dict, to_plain(loaded))
    if isinstance(value, t.Mapping):
        return t.cast(dict, to_plain(value))
    raise ValueError(f"{field}: expected a mapping of Helm values or the path of a YAML file, "
                     f"got {type_name(value)} {describe_value(value)}")


if HAS_YAML:
    class _Dumper(yaml.SafeDumper):
        """Block style, lists indented under their key (as yamllint likes), no anchors, multi-line strings as
        literal blocks."""

        def ignore_aliases(self, data: t.Any) -> bool:
            return True

        def increase_indent(self, flow: bool = False, indentless: bool = False) -> t.Any:
            return super().increase_indent(flow, False)

    def _represent_str(dumper: t.Any, data: str) -> t.Any:
        if "\n" in data:
            return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
        return dumper.represent_scalar("tag:yaml.org,2002:str", data)

    _Dumper.add_representer(str, _represent_str)


def dump_values(values: t.Mapping[str, t.Any], header: t.Iterable[str] = ()) -> str:
    if not HAS_YAML:
        raise ValueError(f"writing YAML needs PyYAML: {YAML_IMPORT_ERROR}")
    lines = [f"# {line}".rstrip() for line in header]
    body = yaml.dump(dict(values), Dumper=_Dumper, default_flow_style=False, sort_keys=False, allow_unicode=True,
                     width=4096, indent=2)
    return ("\n".join(lines) + "\n" if lines else "") + body


def exponent_prone(values: t.Any, path: str = "") -> list[str]:
    """Dotted paths of numbers Helm would print in exponent form (>= 1e6, or tiny floats)."""
    found: list[str] = []
    if isinstance(values, dict):
        for key, item in values.items():
            found += exponent_prone(item, f"{path}.{key}" if path else str(key))
    elif isinstance(values, list):
        for index, item in enumerate(values):
            found += exponent_prone(item, f"{path}[{index}]")
    elif isinstance(values, (int, float)) and not isinstance(values, bool):
        if abs(values) >= HELM_EXPONENT_THRESHOLD or (isinstance(values, float) and 0 < abs(values) < 1e-4):
            found.append(path)
    return found
