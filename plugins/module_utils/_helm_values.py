# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Turn a sizing recommendation into Velero Helm chart values for one chart era: ``render_values`` runs the steps
in order and returns the merged values, their YAML and what the report needs.

Steps, each in its own module so tests can take them apart:
  _values_plan.plan_tuning()        recommendation + era -> the keys, flags and ConfigMaps to set (``TuningPlan``)
  _values_merge.merge_values()      the user's values + the plan -> merged values and the conflicts found
  _values_schema.validate_values()  merged values against the era's strict schema (schemas/helm-values/)
  _values_dump.dump_values()        YAML text Helm reads back exactly (quantities and big numbers quoted)
Pure Python, no Ansible imports; raises ``ValueError`` with a message that names the field to fix.
"""

from __future__ import annotations

import dataclasses
import typing as t

from . import _chart_eras as eras
from ._values_dump import dump_values, load_overrides
from ._values_merge import UserWins, effective_server_setting, mark_kept, merge_values
from ._values_plan import TuningPlan, check_release_name, describe, plan_tuning
from ._values_schema import check_flags, check_location_config, check_maintenance_config, validate_values


def _user_config_maps_without_labels(values: dict[str, t.Any], plan: TuningPlan, chart: str) -> list[str]:
    """Give user configMaps entries the labels mapping the chart's NOTES.txt needs to render
    (eras.configmap_labels_required); an empty map adds no labels."""
    fixed = []
    config_maps = values.get(eras.CONFIG_MAPS)
    if not isinstance(config_maps, dict):
        return fixed
    for key, entry in config_maps.items():
        if key in plan.config_maps or not isinstance(entry, dict) or isinstance(entry.get("labels"), t.Mapping):
            continue
        if eras.configmap_labels_required(chart, str(key)):
            entry["labels"] = {}
            fixed.append(str(key))
    return fixed


def defaults_for_chart(recommendation: t.Mapping[str, t.Any], era: eras.ChartEra, chart: str) -> dict[str, t.Any]:
    """What the cluster gets without tuning, per tuned item, and where that comes from (for the report)."""
    velero = recommendation.get("velero_version")
    result: dict[str, t.Any] = {}
    for item, key in (("server.resources", eras.SERVER_RESOURCES), ("node_agent.resources",
                                                                    eras.NODE_AGENT_RESOURCES)):
        chart_default = eras.chart_resource_defaults(era, key)
        if chart_default:
            result[item] = {"value": chart_default, "source": f"chart {chart} values.yaml `{key}`"}
        else:
            result[item] = {"value": None, "source": f"chart {chart} values.yaml `{key}: {{}}`"}
    result["_velero"] = f"Velero {velero}"
    return result


def render_values(recommendation: t.Mapping[str, t.Any], chart_version: t.Any, *, velero_version: t.Any = None,
                  overrides: t.Any = None, overrides_source: str | None = None, release_name: str = "velero",
                  user_wins: t.Any = False, unchecked_keys: t.Iterable[str] = (),
                  cluster_name: str | None = None, chart_strict: bool = False) -> dict[str, t.Any]:
    """Recommendation -> merged, validated values and their YAML text, plus what the report needs."""
    velero_version = velero_version or recommendation.get("velero_version")
    check_release_name(release_name)
    era = eras.chart_era(chart_version, velero_version, strict=chart_strict)
    chart = eras.parse_chart_version(chart_version)
    user_values = load_overrides(overrides, source=overrides_source)
    wins = UserWins(user_wins)
    unchecked = list(unchecked_keys or [])
    if not all(isinstance(item, str) for item in unchecked):
        raise ValueError(f"velero_values_unchecked_keys: expected a list of dotted keys, got {unchecked!r}")
    plan = plan_tuning(recommendation, era, release_name=release_name, user_values=user_values, chart_version=chart)
    merged, conflicts = merge_values(user_values, plan, user_wins=wins)
    check_flags(merged, era, velero_version, user_values=user_values)
    maintenance_warnings = check_maintenance_config(merged, era, velero_version, user_values=user_values)
    label_notes = []
    fixed = _user_config_maps_without_labels(merged, plan, chart)
    if fixed:
        label_notes.append(f"configMaps {', '.join(fixed)}: labels: {{}} added; chart {chart}'s NOTES.txt reads "
                           "the labels " + ("of every configMaps entry" if eras.configmap_labels_required(chart) else
                                            f"of {eras.RESTORE_ACTION_CONFIG_MAP}")
                           + " and fails to render without them.")
    validate_values(merged, era, user_values=user_values, unchecked=unchecked)
    check_location_config(merged, chart)
    mark_kept(plan.placements, conflicts)
    # A chart newer than the newest known (within its major) is rendered with the newest era's rules: say so first.
    assumption = eras.chart_assumption(chart)
    warnings = ([assumption] if assumption else []) + list(plan.warnings) + maintenance_warnings
    note = eras.velero_patch_note(chart, velero_version) if velero_version else None
    notes = ([note] if note else []) + list(plan.notes) + label_notes
    if era.resource_defaults_merge:
        notes.append(f"Chart {era.first} to {era.last} merges resources with its own defaults; the values set "
                     "every cpu/memory request and limit (null drops a chart default).")
    for unused in wins.unused():
        warnings.append(f"velero_values_user_wins entry {unused!r} matched no conflicting tuning key")
    for conflict in conflicts:
        kept = "your value is kept (velero_values_user_wins)" if conflict.winner == "user" else \
            "the tuned value replaces it (list the key in velero_values_user_wins to keep yours)"
        warnings.append(f"conflict at {conflict.path}: you set {describe(conflict.user)}, tuning recommends "
                        f"{describe(conflict.tuned)}; {kept}")
    header = [
        f"Velero Helm values{' for ' + cluster_name if cluster_name else ''}: chart {chart}, "
        f"Velero {velero_version or recommendation.get('velero_version')}, release name {release_name}.",
        "Written by velero_ops.tuning (role helm_values). Tuned keys and the reasons are in report.md;",
        "put your own settings in velero_values_overrides rather than editing this file.",
    ]
    text = dump_values(merged, header)
    rate_keys = (("client_qps", eras.CLIENT_QPS), ("client_burst", eras.CLIENT_BURST),
                 ("client_page_size", eras.CLIENT_PAGE_SIZE))
    written = {name: effective_server_setting(merged, era, key) for name, key in rate_keys}
    return {
        "values": merged,
        "values_yaml": text,
        "era": {"id": era.id, "first": era.first, "last": era.last, "schema": era.schema_name,
                "velero_versions": era.velero_versions, "maintenance_route": era.maintenance},
        "chart_version": chart,
        "chart_assumption": assumption,
        "fullname": plan.fullname,
        "placements": [dataclasses.asdict(p) for p in plan.placements],
        "conflicts": [c.as_dict() for c in conflicts],
        "warnings": warnings,
        "notes": notes,
        "assumptions": list(plan.assumptions),
        "uploader": plan.uploader,
        "defaults": defaults_for_chart(recommendation, era, chart),
        "written": written,
    }
