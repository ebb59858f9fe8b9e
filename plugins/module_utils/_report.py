# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Markdown reports: one per cluster (report.md) and one for the fleet (fleet-report.md).

Deterministic text (no timestamps) so a second run with the same inputs changes nothing.
Pure Python, no Ansible imports; raises ``ValueError``.
"""

from __future__ import annotations

import json
import typing as t

from . import _api_load as api
from . import _svg
from ._values_plan import describe, same_value
from ._quantity import format_seconds, format_size, parse_memory

REPORT_FILE = "report.md"
VALUES_FILE = "values.yaml"
SVG_FILE = "api-time.svg"
FLEET_SIDECAR_VERSION = 1
# Row keys that are bookkeeping, not content: an unchanged row keeps the date of the run that produced it.
_ROW_BOOKKEEPING = ("run_date", "earlier_run")


def bullet(value: t.Any) -> str:
    """One Markdown list item's text: one line; pipes stay as they are (only table cells escape them)."""
    text = describe(value) if not isinstance(value, str) else value
    return " ".join(text.split()) or "-"


def cell(value: t.Any) -> str:
    """One Markdown table cell: a bullet's one line, with its pipes escaped."""
    return bullet(value).replace("|", "\\|")


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


def default_cell(rec: t.Mapping[str, t.Any], rendered: t.Mapping[str, t.Any], item: str) -> str:
    """What the cluster runs with when the value is not tuned, and where that comes from: the chart's own
    values.yaml for resources (charts up to 6.6.0 set some, 6.7.0+ none), Velero's default otherwise."""
    chart_defaults = rendered.get("defaults") or {}
    if item in chart_defaults and isinstance(chart_defaults[item], t.Mapping):
        entry = chart_defaults[item]
        value = entry.get("value")
        return f"{describe(value) if value else 'none'} ({entry.get('source')})"
    value = default_for(rec, item)
    if value is None:
        return "-"
    if item.startswith("maintenance.repositories."):
        return str(value)
    return f"{describe(value)} ({chart_defaults.get('_velero') or 'Velero'} default)"


def _rate_effect(figures: t.Mapping[str, t.Any]) -> str:
    """Predicted effect of the QPS/burst the values write (the figures' default -> written states)."""
    default, written = figures["states"]["default"], figures["states"]["written"]
    text = (f"client-side throttling per full backup {_seconds(default['throttle_seconds'])} -> "
            f"{_seconds(written['throttle_seconds'])}; modeled API phase {_seconds(default['api_seconds'])} -> "
            f"{_seconds(written['api_seconds'])}")
    if figures.get("written_differs"):
        text += " with the written values"
    return text


def _effect(rec: t.Mapping[str, t.Any], item: str, value: t.Any, route: str,
            figures: t.Mapping[str, t.Any]) -> str:
    predicted = rec.get("predicted") or {}
    peak = predicted.get("maintenance_peak_memory")
    if item in ("server.client_qps", "server.client_burst"):
        return _rate_effect(figures)
    if item == "server.client_page_size":
        default, written = figures["states"]["default"], figures["states"]["written"]
        if written["requests"] is None:
            return "-"
        text = f"about {written['requests']} API requests per full backup in pages of {written['page_size']}"
        if default["page_size"] != written["page_size"] and default["requests"] is not None:
            text += f" ({default['requests']} in Velero's default pages of {default['page_size']})"
        return text
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
        "maintenance.frequency": "how often Velero maintains each new repository; existing BackupRepositories keep "
                                 "theirs until patched (see Warnings)",
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
                   values_file: str = VALUES_FILE, facts: t.Mapping[str, t.Any] | None = None,
                   applying: tuple[str, str] | None = None,
                   figures: t.Mapping[str, t.Any] | None = None) -> str:
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
    if applying:  # complete values or an overlay, and the helm upgrade that applies them (as in values.yaml)
        prose, command = applying
        lines += ["## Applying", "", prose, "", "```", command, "```", ""]
    if svg_file:
        lines += [f"![Modeled backup API time against client QPS]({svg_file})", ""]
    lines += ["## Tuned values", ""]
    rows = []
    why: list[str] = []
    figures = figures or report_figures(rec, rendered)
    states = figures["states"]
    for placement in rendered.get("placements") or []:
        item = placement["item"]
        recommended = describe(placement["value"])
        if not placement.get("applied", True):
            kept = ", ".join(describe(value) for value in placement.get("kept") or [])
            recommended += f" (not applied: you keep {kept})"
        rows.append([item, default_cell(rec, rendered, item), recommended,
                     _effect(rec, item, placement["value"], route, figures), placement["location"]])
        reasons = explanations_for(rec, item)
        if len(reasons) == 1:
            why.append(f"- **{item}**: {cell(reasons[0])}")
        elif reasons:
            why += [f"- **{item}**"] + [f"  - {cell(reason)}" for reason in reasons]
    lines += _table(["Setting", "Default (source)", "Recommended", "Predicted effect", "Where in the values"], rows)
    if why:
        lines += ["", "## Why", ""] + why
    lines += ["", "## Predicted effect", ""]
    default, recommended_state, written = states["default"], states["recommended"], states["written"]
    setting = f"{describe(written['qps'])}/{describe(written['burst'])} QPS/burst, pages of {written['page_size']}"
    if figures.get("written_differs"):
        setting += ", yours kept"
    lines.append(f"- What the values set: {setting} (Velero's defaults: {describe(default['qps'])}/"
                 f"{describe(default['burst'])}, pages of {default['page_size']})")
    requests = f"{written['requests'] if written['requests'] is not None else '-'}"
    if default["requests"] is not None and default["requests"] != written["requests"]:
        requests += f" ({default['requests']} with Velero's default pages of {default['page_size']})"
    lines.append(f"- API requests for a whole-cluster backup: {requests}")
    for label, key in (("Client-side throttling per backup", "throttle_seconds"),
                       ("Modeled API phase of a backup", "api_seconds")):
        text = (f"- {label}: {_seconds(default[key])} with Velero's defaults, {_seconds(written[key])} with the "
                "written values")
        if figures.get("written_differs"):
            text += f" ({_seconds(recommended_state[key])} with the recommendation)"
        lines.append(text)
    if plugins:
        if plugins.get("inherit_server_flags"):
            lines.append(f"- Plugins inherit the server's QPS/burst the values set "
                         f"({describe(written['qps'])}/{describe(written['burst'])}, Velero 1.15+)")
        else:
            lines.append(f"- Plugins stay at client-go's {describe(plugins.get('effective_client_qps'))}/"
                         f"{describe(plugins.get('effective_client_burst'))} QPS/burst (before Velero 1.15): "
                         f"{_seconds(predicted.get('plugin_throttle_seconds'))} of throttling per backup that no "
                         "value can remove; upgrade to Velero 1.15+ to lift it")
    lines.append("- The modeled API phase is not the backup's duration: item processing, volume data transfer and "
                 "webhooks are not in it.")
    if predicted.get("maintenance_peak_memory"):
        lines.append(f"- Repository maintenance modeled peak memory: {predicted['maintenance_peak_memory']}"
                     + _range_text(predicted.get("maintenance_peak_memory_range")))
    if predicted.get("server_peak_memory_range"):
        server_range = predicted["server_peak_memory_range"]
        lines.append(f"- Velero server modeled peak memory during a backup: {format_size(server_range['expected'])}"
                     + _range_text(server_range))
    lines += _observed_lines(rec)
    conflicts = rendered.get("conflicts") or []
    if conflicts:
        lines += ["", "## Conflicts with your values", ""]
        lines += _table(["Key", "Your value", "Tuned value", "Kept"],
                        [[c["path"], c["user"], c["tuned"], "yours" if c["winner"] == "user" else "tuned"]
                         for c in conflicts])
    warnings = list(rec.get("warnings") or []) + [w for w in rendered.get("warnings") or []
                                                  if not str(w).startswith("conflict at ")]
    if warnings:
        lines += ["", "## Warnings", ""] + [f"- {bullet(w)}" for w in warnings]
    notes = list(rendered.get("notes") or [])
    if notes:
        lines += ["", "## Notes", ""] + [f"- {bullet(n)}" for n in notes]
    assumptions = list(rec.get("assumptions") or []) + list(rendered.get("assumptions") or [])
    if assumptions:
        lines += ["", "## Assumptions", ""] + [f"- {bullet(a)}" for a in assumptions]
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


def _range_text(memory_range: t.Any) -> str:
    """' (range 1.2Gi to 2.4Gi; limits at the high end)' for a predicted {low, expected, high}, '' without one."""
    if not isinstance(memory_range, t.Mapping) or not {"low", "high"} <= set(memory_range):
        return ""
    return (f" (range {format_size(memory_range['low'])} to {format_size(memory_range['high'])}; limits are set at the "
            f"high end)")


# observed key -> (what was seen, the recommended value it is compared with)
_OBSERVED = {
    "maintenance_oom_limit": ("a maintenance Job OOMKilled at", ("maintenance", "pod_resources", "memoryLimit")),
    "maintenance_peak_memory": ("a maintenance Job used", ("maintenance", "pod_resources", "memoryLimit")),
    "server_oom_limit": ("the velero server OOMKilled at", ("server", "resources", "limits", "memory")),
    "server_peak_memory": ("the velero server used", ("server", "resources", "limits", "memory")),
    "node_agent_oom_limit": ("a node-agent OOMKilled at", ("node_agent", "resources", "limits", "memory")),
}


def _observed_lines(rec: t.Mapping[str, t.Any]) -> list[str]:
    """Observed next to recommended: what the cluster showed and the limit recommended for it."""
    observed = rec.get("observed") or {}
    lines = []
    for key, (seen, path) in _OBSERVED.items():
        if not observed.get(key):
            continue
        value: t.Any = rec
        for part in path:
            value = value.get(part) if isinstance(value, t.Mapping) else None
        lines.append(f"- Observed: {seen} {format_size(observed[key])}; recommended limit "
                     f"{value if value is not None else 'unset (Velero default)'}")
    if observed.get("maintenance_failures"):
        lines.append(f"- Observed: {observed['maintenance_failures']} failed maintenance run(s) in the "
                     f"BackupRepositories' recentMaintenance")
    if lines and observed.get("evidence"):
        lines.append("- Evidence: " + "; ".join(str(item) for item in observed["evidence"]))
    return lines


def _number(value: t.Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


# The API-load states every report figure is one of, in the order the chart's legend lists them.
STATES = ("default", "recommended", "written")
STATE_LABELS = {"default": "Velero default", "recommended": "recommended", "written": "written"}
CURVE_POINTS = 10


def _state(counts: api.RequestCount | None, inherit: bool, qps: float, burst: int, page: int) -> dict[str, t.Any]:
    """One client setting and what the model predicts for it (numbers unrounded: formatting happens once)."""
    state: dict[str, t.Any] = {"qps": qps, "burst": burst, "page_size": page,
                               "requests": None, "throttle_seconds": None, "api_seconds": None}
    if counts is not None:
        paged = counts.at_page(page)
        state.update(requests=paged.total, throttle_seconds=api.server_throttle_seconds(paged, qps, burst),
                     api_seconds=api.phase_seconds(paged, qps, burst, inherit))
    return state


def report_figures(rec: t.Mapping[str, t.Any], rendered: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """The one computed object every API figure of a cluster's report, chart and fleet row is read from.

    Three states: Velero's defaults (its QPS, burst and page size), the recommendation, and what the written
    values set (the user's value where theirs is kept; an unset key leaves Velero's default). Each carries its
    request count, client-side throttling and modeled API phase, computed from the recommendation's request
    breakdown by the sizing model's own functions (``_api_load``), and the chart's curve is computed the same way
    at the written page size, so no figure is interpolated, rounded twice or taken at another page size.
    """
    server = rec.get("server") or {}
    predicted = rec.get("predicted") or {}
    defaults = rec.get("velero_defaults") or {}
    written = rendered.get("written") or {}
    inherit = bool((rec.get("plugins") or {}).get("inherit_server_flags"))
    default_qps = _number(defaults.get("server.client_qps")) or _number(server.get("client_qps")) or 1.0
    default_burst = int(_number(defaults.get("server.client_burst")) or max(1, round(default_qps)))
    default_page = int(_number(defaults.get("server.client_page_size")) or api.DEFAULT_CLIENT_PAGE_SIZE)
    settings = {
        "default": (default_qps, default_burst, default_page),
        "recommended": (_number(server.get("client_qps")) or default_qps,
                        int(_number(server.get("client_burst")) or default_burst),
                        int(_number(server.get("client_page_size")) or default_page)),
    }
    # What the values really set; a key they leave out means Velero's default, for all three alike.
    settings["written"] = (_number(written.get("client_qps")) or default_qps,
                           int(_number(written.get("client_burst")) or default_burst),
                           int(_number(written.get("client_page_size")) or default_page))
    counts = api.RequestCount.from_breakdown(predicted.get("api_requests_breakdown") or {})
    states = {name: _state(counts, inherit, *setting) for name, setting in settings.items()}
    if counts is None:
        _fill_from_prediction(states, predicted)
    differs = settings["written"] != settings["recommended"]
    figures: dict[str, t.Any] = {"states": states, "written_differs": differs, "modeled": counts is not None,
                                 "curve": _curve(states, counts, inherit, default_qps, default_burst, predicted)}
    return figures


def _fill_from_prediction(states: dict[str, dict[str, t.Any]], predicted: t.Mapping[str, t.Any]) -> None:
    """Without a full request breakdown (a recommendation from an older release): the model's own figures for the
    default and recommended states; the written state's where it is the recommendation's, else at its rate."""
    default, recommended, written = states["default"], states["recommended"], states["written"]
    default.update(requests=predicted.get("api_requests"), throttle_seconds=predicted.get("throttle_seconds_default"),
                   api_seconds=predicted.get("api_seconds_default"))
    recommended.update(requests=predicted.get("api_requests"),
                       throttle_seconds=predicted.get("throttle_seconds_recommended"),
                       api_seconds=predicted.get("api_seconds_recommended"))
    for name in ("default", "recommended"):
        if states[name]["api_seconds"] is None and predicted.get("api_time_curve"):
            states[name]["api_seconds"] = _svg.interpolate(predicted["api_time_curve"], states[name]["qps"])
    if (written["qps"], written["burst"], written["page_size"]) == (recommended["qps"], recommended["burst"],
                                                                     recommended["page_size"]):
        written.update({key: recommended[key] for key in ("requests", "throttle_seconds", "api_seconds")})
        return
    breakdown = predicted.get("api_requests_breakdown")
    written["requests"] = predicted.get("api_requests")
    if isinstance(breakdown, t.Mapping):
        written["throttle_seconds"] = api.server_throttle_from_breakdown(breakdown, written["qps"],
                                                                         written["burst"])
    if predicted.get("api_time_curve"):
        written["api_seconds"] = _svg.interpolate(predicted["api_time_curve"], written["qps"])


def _curve(states: t.Mapping[str, t.Mapping[str, t.Any]], counts: api.RequestCount | None, inherit: bool,
           default_qps: float, default_burst: int, predicted: t.Mapping[str, t.Any]) -> list[dict[str, t.Any]]:
    """Modeled API time over QPS at the written page size, from the lowest marked QPS to twice the highest, with
    burst as the model scales it; without a breakdown, the recommendation's own curve."""
    if counts is None:
        return [dict(point) for point in predicted.get("api_time_curve") or []]
    paged = counts.at_page(states["written"]["page_size"])
    rates = [state["qps"] for state in states.values()]
    start, stop = min(rates), 2 * max(rates)
    curve = []
    for index in range(CURVE_POINTS):
        qps = start * (stop / start) ** (index / (CURVE_POINTS - 1))
        burst = api.burst_for_defaults(default_qps, default_burst, qps)
        curve.append({"qps": qps, "burst": burst, "seconds": api.phase_seconds(paged, qps, burst, inherit)})
    return curve


def api_markers(figures: t.Mapping[str, t.Any]) -> list[dict[str, t.Any]]:
    """The chart's marked points: Velero's default, the recommendation, and what is written when it differs."""
    states = figures["states"]
    names = ["default", "recommended"] + (["written"] if figures.get("written_differs") else [])
    markers = []
    for name in names:
        state = states[name]
        if state.get("api_seconds") is None:
            continue
        label = STATE_LABELS[name] + (" (yours kept)" if name == "written" else "")
        markers.append({"state": name, "label": label, "qps": state["qps"], "seconds": state["api_seconds"],
                        "text": f"{label}: {describe(state['qps'])} QPS, {_seconds(state['api_seconds'])}"})
    return markers


def figures_svg(figures: t.Mapping[str, t.Any], *, title: str) -> str:
    """The report's chart: the figures' curve and markers (labels formatted as in the report's table)."""
    page = figures["states"]["written"]["page_size"]
    return _svg.api_time_chart(figures["curve"], api_markers(figures), title=title,
                               note=f"pages of {page}" if figures.get("modeled") else None)


def _pod_text(pod: t.Any) -> str:
    if not isinstance(pod, t.Mapping):
        return "-"
    return f"{pod.get('memoryRequest', '-')}/{pod.get('memoryLimit', '-')}"


def _memory_limit(pod: t.Mapping[str, t.Any]) -> int:
    try:
        return parse_memory(pod.get("memoryLimit") or "0", "memoryLimit")
    except ValueError:
        return 0


def fleet_summary(cluster: str, recommendation: t.Mapping[str, t.Any], rendered: t.Mapping[str, t.Any],
                  report_path: str | None = None, figures: t.Mapping[str, t.Any] | None = None) -> dict[str, t.Any]:
    """The one row of the fleet report this cluster contributes (API figures from ``report_figures``, as in the
    cluster's report)."""
    rec = recommendation
    predicted = rec.get("predicted") or {}
    states = (figures or report_figures(rec, rendered))["states"]
    default, recommended, written = states["default"], states["recommended"], states["written"]
    placements = {p["item"]: p for p in rendered.get("placements") or []}
    placed = placements.get("maintenance.pod_resources")
    pod = placed["value"] if placed else (rec.get("maintenance") or {}).get("pod_resources") or {}
    memory = _pod_text(pod)
    if placed and not placed.get("applied", True):
        memory += " (yours kept)"
    # The largest per-repository entry, next to the global one (the peak column belongs to it).
    entries = [(item.split(".", 2)[2], p) for item, p in placements.items()
               if item.startswith("maintenance.repositories.")]
    if entries:
        key, entry = max(entries, key=lambda pair: _memory_limit(pair[1]["value"]))
        memory = f"global {memory}; {key} {_pod_text(entry['value'])}" + (
            " (yours kept)" if not entry.get("applied", True) else "")
    return {
        "cluster": cluster,
        "status": "ok",
        "velero_version": rec.get("velero_version"),
        "chart_version": rendered.get("chart_version"),
        # What the values set; an unset key is Velero's default (QPS, burst and page size alike).
        "client_qps": written["qps"],
        "client_burst": written["burst"],
        "client_page_size": written["page_size"],
        "recommended_client_qps": recommended["qps"],
        "recommended_client_burst": recommended["burst"],
        "recommended_client_page_size": recommended["page_size"],
        "default_client_qps": default["qps"],
        "default_client_burst": default["burst"],
        "maintenance_memory": memory,
        "maintenance_peak_memory": predicted.get("maintenance_peak_memory"),
        "maintenance_peak_memory_range": _range_text(predicted.get("maintenance_peak_memory_range")).strip(" ()")
        or None,
        "throttle_seconds_default": default["throttle_seconds"],
        "throttle_seconds_recommended": recommended["throttle_seconds"],
        "throttle_seconds_written": written["throttle_seconds"],
        "api_seconds_default": default["api_seconds"],
        "api_seconds_written": written["api_seconds"],
        "conflicts": len(rendered.get("conflicts") or []),
        "warnings": len(rec.get("warnings") or []) + len([w for w in rendered.get("warnings") or []
                                                          if not str(w).startswith("conflict at ")]),
        "report": report_path,
    }


def _content(row: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    return {key: value for key, value in row.items() if key not in _ROW_BOOKKEEPING}


def merge_fleet_rows(current: t.Iterable[t.Mapping[str, t.Any]], previous: t.Iterable[t.Any] | None,
                     inventory: t.Iterable[str], today: str) -> list[dict[str, t.Any]]:
    """One row per inventory host: this run's rows; rows of hosts this run left out (``--limit``) from the previous
    run, marked ``earlier_run`` with the date they were made; ``not-run`` for hosts never tuned.

    A row equal to the previous run's keeps that run's date, so an unchanged re-run changes no file. Rows of hosts
    no longer in the inventory are dropped. ``today`` is an ISO date (the caller's clock; this stays pure).
    """
    previous_rows = {str(row["cluster"]): dict(row) for row in previous or []
                     if isinstance(row, t.Mapping) and row.get("cluster") is not None}
    current_rows = {str(row["cluster"]): dict(row) for row in current}
    rows = []
    for host in sorted(set(inventory) | set(current_rows)):
        if host in current_rows:
            row = current_rows[host]
            row.pop("earlier_run", None)
            old = previous_rows.get(host) or {}
            same = not old.get("earlier_run") and _content(old) == _content(row)
            row["run_date"] = (old.get("run_date") if same else None) or today
        elif host in previous_rows and previous_rows[host].get("status") != "not-run":
            row = previous_rows[host]
            row["earlier_run"] = True
        else:
            row = {"cluster": host, "status": "not-run"}
        rows.append(row)
    return rows


def fleet_sidecar(rows: t.Iterable[t.Mapping[str, t.Any]]) -> str:
    """fleet-report.json: the rows behind fleet-report.md, read back by the next run (deterministic JSON)."""
    return json.dumps({"version": FLEET_SIDECAR_VERSION, "rows": list(rows)}, indent=1, sort_keys=True) + "\n"


def read_fleet_sidecar(text: str) -> list[dict[str, t.Any]]:
    """Rows of a fleet-report.json; ``ValueError`` when it is not one."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("version") != FLEET_SIDECAR_VERSION or not isinstance(
            data.get("rows"), list):
        raise ValueError(f"expected {{\"version\": {FLEET_SIDECAR_VERSION}, \"rows\": [...]}}")
    return [row for row in data["rows"] if isinstance(row, dict)]


def _earlier(row: t.Mapping[str, t.Any]) -> str:
    """The mark of a row carried over from an earlier run, with that run's date; empty for this run's rows."""
    return f" (earlier run, {row.get('run_date') or 'date unknown'})" if row.get("earlier_run") else ""


def _status_cell(row: t.Mapping[str, t.Any]) -> str:
    return {"ok": "tuned", "not-run": "not tuned yet"}.get(str(row.get("status")), "FAILED") + _earlier(row)


def fleet_report(rows: t.Iterable[t.Mapping[str, t.Any]]) -> str:
    """fleet-report.md: one row per cluster, failed clusters listed with their message."""
    rows = sorted((dict(row) for row in rows), key=lambda row: str(row.get("cluster")))
    current = [row for row in rows if not row.get("earlier_run") and row.get("status") != "not-run"]
    tuned = [row for row in current if row.get("status") == "ok"]
    failed = [row for row in rows if row.get("status") not in ("ok", "not-run")]
    earlier = [row for row in rows if row.get("earlier_run")]
    not_run = [row for row in rows if row.get("status") == "not-run"]
    summary = (f"{len(rows)} cluster{'' if len(rows) == 1 else 's'}: {len(tuned)} tuned, "
               f"{len(current) - len(tuned)} failed.")
    if earlier:
        summary += (f" {len(earlier)} not in this run (--limit): their rows are from an earlier run, marked with "
                    "its date.")
    if not_run:
        summary += f" {len(not_run)} not tuned yet."
    lines = ["# Velero tuning: fleet report", "", summary, ""]
    table = []
    for row in rows:
        status = _status_cell(row)
        if row.get("status") == "ok":
            report = row.get("report")
            rate = (f"{describe(row.get('default_client_qps'))}/{describe(row.get('default_client_burst'))} -> "
                    f"{describe(row.get('client_qps'))}/{describe(row.get('client_burst'))}")
            recommended = (row.get("recommended_client_qps"), row.get("recommended_client_burst"))
            if recommended != (None, None) and not (same_value(recommended[0], row.get("client_qps"))
                                                    and same_value(recommended[1], row.get("client_burst"))):
                rate += f" (yours; tuned {describe(recommended[0])}/{describe(recommended[1])})"
            written = row.get("throttle_seconds_written", row.get("throttle_seconds_recommended"))
            page = describe(row.get("client_page_size"))
            if row.get("recommended_client_page_size") is not None and not same_value(
                    row.get("recommended_client_page_size"), row.get("client_page_size")):
                page += f" (yours; tuned {describe(row.get('recommended_client_page_size'))})"
            table.append([
                row["cluster"], status, row.get("velero_version"), row.get("chart_version"), rate,
                page, row.get("maintenance_memory"),
                " ".join(str(part) for part in (row.get("maintenance_peak_memory"),
                                                f"({row['maintenance_peak_memory_range']})"
                                                if row.get("maintenance_peak_memory_range") else None) if part),
                f"{_seconds(row.get('throttle_seconds_default'))} -> {_seconds(written)}",
                row.get("conflicts"), row.get("warnings"), f"[report]({report})" if report else "-"])
        elif row.get("status") == "not-run":
            table.append([row.get("cluster"), status] + ["-"] * 10)
        else:
            table.append([row.get("cluster"), status, row.get("velero_version"), row.get("chart_version"),
                          "-", "-", "-", "-", "-", "-", "-", "see Failed clusters"])
    lines += _table(["Cluster", "Status", "Velero", "Chart", "QPS/burst (default -> written)", "Page size",
                     "Maintenance memory (request/limit)", "Modeled maintenance peak",
                     "API throttling per backup (default -> written values)", "Conflicts", "Warnings", "Report"],
                    table)
    if failed:
        lines += ["", "## Failed clusters", ""]
        lines += _table(["Cluster", "Message"],
                        [[f"{row.get('cluster')}{_earlier(row)}", row.get("message") or "failed"] for row in failed])
    return "\n".join(lines).rstrip() + "\n"
