# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Markdown reports: one per cluster (report.md) and one for the fleet (fleet-report.md).

Deterministic text (no timestamps) so a second run with the same inputs changes nothing.
Pure Python, no Ansible imports; raises ``ValueError``.
"""

from __future__ import annotations

import typing as t

from ._helm_values import same_value, describe
from ._quantity import format_seconds

REPORT_FILE = "report.md"
VALUES_FILE = "values.yaml"
SVG_FILE = "api-time.svg"


def cell(value: t.Any) -> str:
    """One Markdown table cell: no pipes or line breaks."""
    text = describe(value) if not isinstance(value, str) else value
    return " ".join(text.replace("|", "\\|").split()) or "-"


def _seconds(value: t.Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-"
    return format_seconds(float(value))


def _table(headers: list[str], rows: list[list[t.Any]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _header in headers) + " |"]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return lines


def _children(flat: t.Mapping[str, t.Any], item: str) -> dict[str, t.Any]:
    """Entries of a dotted-path mapping below ``item`` (``server.resources`` -> requests.cpu, ...)."""
    prefix = item + "."
    return {key[len(prefix):]: value for key, value in flat.items() if key.startswith(prefix)}


def _nest(flat: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    tree: dict[str, t.Any] = {}
    for key, value in flat.items():
        node = tree
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node[parts[-1]] = value
    return tree


def explanations_for(rec: t.Mapping[str, t.Any], item: str) -> list[str]:
    """Why a value was chosen: its own explanation, those of its parts, or the nearest parent's."""
    explanations = rec.get("explanations") or {}
    if item in explanations:
        return [str(explanations[item])]
    parts = _children(explanations, item)
    if parts:
        return [f"{key}: {text}" for key, text in parts.items()]
    parent = item.rpartition(".")[0]
    while parent:
        if parent in explanations:
            return [str(explanations[parent])]
        parent = parent.rpartition(".")[0]
    return []


def default_for(rec: t.Mapping[str, t.Any], item: str) -> t.Any:
    """Velero's default of a tuned value (``velero_defaults`` holds leaf paths; containers are rebuilt)."""
    defaults = rec.get("velero_defaults") or {}
    if item in defaults:
        return defaults[item]
    parts = _children(defaults, item)
    if parts:
        return _nest(parts)
    if item.startswith("maintenance.repositories."):
        return "the global maintenance resources"
    return None


def _effect(rec: t.Mapping[str, t.Any], item: str, value: t.Any, route: str) -> str:
    predicted = rec.get("predicted") or {}
    peak = predicted.get("maintenance_peak_memory")
    if item in ("server.client_qps", "server.client_burst"):
        text = (f"client-side throttling per full backup {_seconds(predicted.get('throttle_seconds_default'))} "
                f"-> {_seconds(predicted.get('throttle_seconds_recommended'))}")
        if "api_seconds_default" in predicted:
            text += (f"; modeled API phase {_seconds(predicted.get('api_seconds_default'))} -> "
                     f"{_seconds(predicted.get('api_seconds_recommended'))}")
        return text
    if item == "server.client_page_size":
        requests = predicted.get("api_requests")
        return f"about {requests} API requests per full backup" if requests is not None else "-"
    if item == "server.resources" and route == "server-resources":
        return f"the server pod also holds in-server maintenance (modeled peak {peak or '-'})"
    if item == "maintenance.pod_resources" and isinstance(value, t.Mapping):
        limit = value.get("memoryLimit")
        if limit in (None, "0"):
            return f"modeled maintenance peak {peak or '-'}; no memory limit, so no OOMKill"
        return f"modeled peak of the largest repository {peak or '-'}; limit {limit}"
    if item.startswith("maintenance.repositories."):
        return "this repository's maintenance Job gets its own resources"
    return {
        "server.resources": "server pod sized for the objects held during a backup",
        "maintenance.keep_latest_jobs": "finished maintenance Jobs (and their pods' logs) kept per repository",
        "maintenance.frequency": "how often Velero starts a maintenance Job per repository",
        "repository.cache_limit_mb": "kopia cache size of repositories created from now on",
        "repository.full_maintenance_interval": "kopia full-maintenance interval of repositories created from now on",
        "node_agent.load_concurrency": "data-path operations running at once on each node",
        "node_agent.resources": "node-agent pods sized for the largest file-system backup",
        "node_agent.pod_resources": "data-mover pods sized for one volume each",
    }.get(item, "-")


def _drift_lines(drift: t.Any) -> list[str]:
    if not drift:
        return []
    if isinstance(drift, t.Mapping):
        rows = []
        columns: list[str] = []
        for key, value in drift.items():
            if isinstance(value, t.Mapping):
                for column in value:
                    if column not in columns:
                        columns.append(str(column))
        if columns:
            for key, value in drift.items():
                row = [key] + [value.get(c) if isinstance(value, t.Mapping) else value for c in columns]
                rows.append(row)
            return _table(["Setting"] + columns, rows)
        return _table(["Setting", "Value"], [[key, value] for key, value in drift.items()])
    if isinstance(drift, list):
        # cluster_facts' drift entries: the readable columns, not the long explanation.
        if drift and all(isinstance(item, t.Mapping) and "setting" in item for item in drift):
            wanted = ["setting", "current", "recommended", "velero_default", "source"]
            columns = [c for c in wanted if any(c in item for item in drift)]
            return _table(columns, [[item.get(c) for c in columns] for item in drift])
        columns = []
        for item in drift:
            if isinstance(item, t.Mapping):
                for column in item:
                    if column not in columns:
                        columns.append(str(column))
        if columns:
            return _table(columns, [[item.get(c) if isinstance(item, t.Mapping) else item for c in columns]
                                    for item in drift])
        return [f"- {cell(item)}" for item in drift]
    return [cell(drift)]


def cluster_report(cluster: str, recommendation: t.Mapping[str, t.Any], rendered: t.Mapping[str, t.Any], *,
                   release_name: str = "velero", svg_file: str | None = SVG_FILE,
                   values_file: str = VALUES_FILE, facts: t.Mapping[str, t.Any] | None = None) -> str:
    """report.md for one cluster: every tuned value with Velero's default, the recommendation, why, and the
    predicted effect; conflicts, warnings, assumptions, and the live drift when facts provide it."""
    rec = recommendation
    era = rendered.get("era") or {}
    predicted = rec.get("predicted") or {}
    plugins = rec.get("plugins") or {}
    route = str(era.get("maintenance_route", ""))
    lines = [
        f"# Velero tuning report: {cluster}",
        "",
        f"Velero {rec.get('velero_version')} on Helm chart {rendered.get('chart_version')} "
        f"(chart era {era.get('first')} to {era.get('last')}), release `{release_name}`. "
        f"Values to apply: [{values_file}]({values_file}).",
        "",
    ]
    if svg_file:
        lines += [f"![Modeled backup API time against client QPS]({svg_file})", ""]
    lines += ["## Tuned values", ""]
    rows = []
    why: list[str] = []
    for placement in rendered.get("placements") or []:
        item = placement["item"]
        recommended = describe(placement["value"])
        kept = [c for c in rendered.get("conflicts") or [] if c["winner"] == "user"
                and (c["path"] == placement["location"] or c["path"].startswith(placement["location"] + "."))]
        if kept:
            recommended += " (not applied: you keep " + ", ".join(describe(c["user"]) for c in kept) + ")"
        rows.append([item, default_for(rec, item), recommended, _effect(rec, item, placement["value"], route),
                     placement["location"]])
        reasons = explanations_for(rec, item)
        if len(reasons) == 1:
            why.append(f"- **{item}**: {cell(reasons[0])}")
        elif reasons:
            why += [f"- **{item}**"] + [f"  - {cell(reason)}" for reason in reasons]
    lines += _table(["Setting", "Velero default", "Recommended", "Predicted effect", "Where in the values"], rows)
    if why:
        lines += ["", "## Why", ""] + why
    lines += ["", "## Predicted effect", ""]
    lines.append(f"- API requests for a whole-cluster backup: {predicted.get('api_requests', '-')}")
    lines.append(f"- Client-side throttling per backup: {_seconds(predicted.get('throttle_seconds_default'))} with "
                 f"Velero's defaults, {_seconds(predicted.get('throttle_seconds_recommended'))} tuned")
    if plugins:
        if plugins.get("inherit_server_flags"):
            lines.append(f"- Plugins inherit the server's QPS/burst "
                         f"({describe(plugins.get('effective_client_qps'))}/"
                         f"{describe(plugins.get('effective_client_burst'))}, Velero 1.15+)")
        else:
            lines.append(f"- Plugins stay at client-go's {describe(plugins.get('effective_client_qps'))}/"
                         f"{describe(plugins.get('effective_client_burst'))} QPS/burst (before Velero 1.15): "
                         f"{_seconds(predicted.get('plugin_throttle_seconds'))} of throttling per backup that no "
                         "value can remove; upgrade to Velero 1.15+ to lift it")
    if predicted.get("maintenance_peak_memory"):
        lines.append(f"- Repository maintenance modeled peak memory: {predicted['maintenance_peak_memory']}")
    conflicts = rendered.get("conflicts") or []
    if conflicts:
        lines += ["", "## Conflicts with your values", ""]
        lines += _table(["Key", "Your value", "Tuned value", "Kept"],
                        [[c["path"], c["user"], c["tuned"], "yours" if c["winner"] == "user" else "tuned"]
                         for c in conflicts])
    warnings = list(rec.get("warnings") or []) + [w for w in rendered.get("warnings") or []
                                                  if not str(w).startswith("conflict at ")]
    if warnings:
        lines += ["", "## Warnings", ""] + [f"- {cell(w)}" for w in warnings]
    notes = list(rendered.get("notes") or [])
    if notes:
        lines += ["", "## Notes", ""] + [f"- {cell(n)}" for n in notes]
    assumptions = list(rec.get("assumptions") or [])
    if assumptions:
        lines += ["", "## Assumptions", ""] + [f"- {cell(a)}" for a in assumptions]
    facts = facts or {}
    drift = facts.get("drift")
    if drift or facts.get("partial") or facts.get("errors"):
        lines += ["", "## Drift (live cluster against the recommendation)", ""]
        lines += _drift_lines(drift) or ["No drift found."]
        if facts.get("partial"):
            lines += ["", "Live facts are partial (some reads failed); sizing used what was readable."]
        for error in facts.get("errors") or []:
            if isinstance(error, t.Mapping):
                text = ": ".join(str(error[k]) for k in ("what", "message") if error.get(k)) or describe(error)
            else:
                text = str(error)
            lines.append(f"- {cell(text)}")
    return "\n".join(lines).rstrip() + "\n"


def fleet_summary(cluster: str, recommendation: t.Mapping[str, t.Any], rendered: t.Mapping[str, t.Any],
                  report_path: str | None = None) -> dict[str, t.Any]:
    """The one row of the fleet report this cluster contributes."""
    rec = recommendation
    server = rec.get("server") or {}
    defaults = rec.get("velero_defaults") or {}
    predicted = rec.get("predicted") or {}
    placed = {p["item"]: p["value"] for p in rendered.get("placements") or []}
    pod = placed.get("maintenance.pod_resources") or (rec.get("maintenance") or {}).get("pod_resources") or {}
    # What the written values hold (the user's value where they kept theirs).
    configuration = (rendered.get("values") or {}).get("configuration") or {}
    return {
        "cluster": cluster,
        "status": "ok",
        "velero_version": rec.get("velero_version"),
        "chart_version": rendered.get("chart_version"),
        "client_qps": configuration.get("clientQPS", server.get("client_qps")),
        "client_burst": configuration.get("clientBurst", server.get("client_burst")),
        "client_page_size": configuration.get("clientPageSize", server.get("client_page_size")),
        "recommended_client_qps": server.get("client_qps"),
        "recommended_client_burst": server.get("client_burst"),
        "default_client_qps": defaults.get("server.client_qps"),
        "default_client_burst": defaults.get("server.client_burst"),
        "maintenance_memory": f"{pod.get('memoryRequest', '-')}/{pod.get('memoryLimit', '-')}",
        "maintenance_peak_memory": predicted.get("maintenance_peak_memory"),
        "throttle_seconds_default": predicted.get("throttle_seconds_default"),
        "throttle_seconds_recommended": predicted.get("throttle_seconds_recommended"),
        "conflicts": len(rendered.get("conflicts") or []),
        "warnings": len(rec.get("warnings") or []) + len([w for w in rendered.get("warnings") or []
                                                          if not str(w).startswith("conflict at ")]),
        "report": report_path,
    }


def fleet_report(rows: t.Iterable[t.Mapping[str, t.Any]]) -> str:
    """fleet-report.md: one row per cluster, failed clusters listed with their message."""
    rows = sorted((dict(row) for row in rows), key=lambda row: str(row.get("cluster")))
    tuned = [row for row in rows if row.get("status") == "ok"]
    failed = [row for row in rows if row.get("status") != "ok"]
    lines = ["# Velero tuning: fleet report", "",
             f"{len(rows)} cluster{'' if len(rows) == 1 else 's'}: {len(tuned)} tuned, {len(failed)} failed.", ""]
    table = []
    for row in rows:
        if row.get("status") == "ok":
            report = row.get("report")
            rate = (f"{describe(row.get('default_client_qps'))}/{describe(row.get('default_client_burst'))} -> "
                    f"{describe(row.get('client_qps'))}/{describe(row.get('client_burst'))}")
            recommended = (row.get("recommended_client_qps"), row.get("recommended_client_burst"))
            if recommended != (None, None) and not (same_value(recommended[0], row.get("client_qps"))
                                                    and same_value(recommended[1], row.get("client_burst"))):
                rate += f" (yours; tuned {describe(recommended[0])}/{describe(recommended[1])})"
            table.append([
                row["cluster"], "tuned", row.get("velero_version"), row.get("chart_version"), rate,
                row.get("client_page_size"), row.get("maintenance_memory"), row.get("maintenance_peak_memory"),
                f"{_seconds(row.get('throttle_seconds_default'))} -> {_seconds(row.get('throttle_seconds_recommended'))}",
                row.get("conflicts"), row.get("warnings"), f"[report]({report})" if report else "-"])
        else:
            table.append([row.get("cluster"), "FAILED", row.get("velero_version"), row.get("chart_version"),
                          "-", "-", "-", "-", "-", "-", "-", "see Failed clusters"])
    lines += _table(["Cluster", "Status", "Velero", "Chart", "QPS/burst (default -> tuned)", "Page size",
                     "Maintenance memory (request/limit)", "Modeled maintenance peak",
                     "API throttling per backup (default -> tuned)", "Conflicts", "Warnings", "Report"], table)
    if failed:
        lines += ["", "## Failed clusters", ""]
        lines += _table(["Cluster", "Message"], [[row.get("cluster"), row.get("message") or "failed"]
                                                 for row in failed])
    return "\n".join(lines).rstrip() + "\n"
