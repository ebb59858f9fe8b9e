# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The values a Helm release has after an upgrade with the written values.yaml, and what changes.

Two contracts (the header of values.yaml says which one a file follows):
- overlay: values.yaml holds the tuned keys (and the user's overrides); the release keeps every other value it
  has, as ``helm upgrade --reuse-values`` or ``-f <your values> -f values.yaml`` would: maps merge key by key,
  anything else (lists, scalars, null) replaces;
- complete: values.yaml is every value of the release (velero_values_complete), so it replaces them.
Pure Python, no Ansible imports; raises ValueError.
"""

from __future__ import annotations

import copy
import textwrap
import typing as t

OVERLAY = "overlay"
COMPLETE = "complete"


def layer(base: t.Mapping[str, t.Any], top: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """``top`` over ``base`` the way Helm layers values files: maps merge, everything else replaces."""
    result = copy.deepcopy(dict(base))
    for key, value in top.items():
        if isinstance(value, t.Mapping) and isinstance(result.get(key), t.Mapping):
            result[key] = layer(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def leaf_paths(tree: t.Any, prefix: str = "") -> dict[str, t.Any]:
    """Dotted path -> value of every leaf (a list or an empty map is one leaf)."""
    if not isinstance(tree, t.Mapping) or (not tree and prefix):
        return {prefix: tree}
    found: dict[str, t.Any] = {}
    for key, value in tree.items():
        found.update(leaf_paths(value, f"{prefix}.{key}" if prefix else str(key)))
    return found


def release_values(deployed: t.Any, written: t.Any, contract: str) -> dict[str, t.Any]:
    """What the release gets: ``values`` (pass them all, with --reset-values), and the paths that change."""
    if contract not in (OVERLAY, COMPLETE):
        raise ValueError(f"contract: expected {OVERLAY} or {COMPLETE}, got {contract!r}")
    if deployed is None:
        deployed = {}
    for name, value in (("deployed", deployed), ("written", written)):
        if not isinstance(value, t.Mapping):
            raise ValueError(f"{name}: expected a mapping of Helm values, got {type(value).__name__}")
    values = copy.deepcopy(dict(written)) if contract == COMPLETE else layer(deployed, written)
    before, after = leaf_paths(deployed), leaf_paths(values)
    return {
        "values": values,
        "changed_paths": sorted(path for path in after if path in before and before[path] != after[path]),
        "added_paths": sorted(path for path in after if path not in before),
        "removed_paths": sorted(path for path in before if path not in after),
        "changed": values != dict(deployed),
    }


CHART_REF = "vmware-tanzu/velero"


def apply_command(release: str, namespace: str, chart: str, values_path: str, complete: bool) -> str:
    """The helm upgrade that applies values.yaml without resetting the release's other values."""
    mine = "" if complete else " -f <your values>"
    return f"helm upgrade {release} {CHART_REF} -n {namespace} --version {chart}{mine} -f {values_path}"


def contract(release: str, namespace: str, chart: str, values_path: str, complete: bool) -> tuple[str, str]:
    """(What values.yaml is - complete values or an overlay -, the command that applies it): header and report."""
    command = apply_command(release, namespace, chart, values_path, complete)
    if complete:
        return (f"COMPLETE values of release {release} (namespace {namespace}): your velero_values_overrides are "
                "every value of the release (velero_values_complete: true), plus the tuning. Apply with:", command)
    return (f"OVERLAY, not the complete values of release {release} (namespace {namespace}): the tuned keys and your "
            "velero_values_overrides only. With this file alone, helm upgrade resets every other value (storage "
            "location, credentials, plugins...) to the chart's defaults. Apply it over your own values, last (or set "
            "velero_values_complete: true when velero_values_overrides holds all your values):", command)


def header_lines(prose: str, command: str) -> list[str]:
    """The contract as comment lines of values.yaml (without the leading '# ')."""
    return textwrap.wrap(prose, width=112) + [f"  {command}"]
