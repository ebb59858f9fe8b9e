# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Make the files derived from the release tables (_releases.py, _chart_eras.py) and the chart's values.yaml files.

    python tools/schema_gen.py            # check: exit 1 if a derived file is stale
    python tools/schema_gen.py --write    # regenerate

What it makes:
- the strict per-era values schemas in schemas/helm-values/ (one per row of ``_chart_eras.ERAS``);
- the Velero version patterns and range text of schemas/sizing-input.schema.json and
  schemas/recommendation.schema.json (those files are otherwise hand-written; only these values are set);
- the ``molecule_helm_eras`` list of extensions/molecule/default/vars/eras.yml (one cluster per era).

How a schema is made (docs/helm-values.md, "Strict schemas"):
- The chart's own namespaces (top level, ``configuration``, ``nodeAgent``, ``metrics``, ...; ``STRICT_MAPS``)
  allow exactly the keys of that era's values.yaml, plus keys the file documents in comments
  (``# digest:``) and the few the templates read without documenting them (``TEMPLATE_ONLY_KEYS``), minus
  the era's ``absent`` keys (added later in the major). Misspelt or mis-indented keys
  there are errors. Maps that hold Kubernetes objects or user data (probes, security contexts, labels,
  annotations, ``configMaps`` names, ...) stay free-form, as in the chart.
- The keys the collection emits get exact types (``TYPED``): quantities as strings, counts as integers,
  podResources with all four cpu/memory fields, extraArgs as lists of strings, configMaps data as strings.
The values files are expected at ``<repo>/../shared/velero-chart/`` (CI has them beside the repository).
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
import typing as t
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
VALUES_DIR = REPO_ROOT.parent / "shared" / "velero-chart"
SCHEMA_DIR = REPO_ROOT / "schemas" / "helm-values"
MOLECULE_ERAS = REPO_ROOT / "extensions" / "molecule" / "default" / "vars" / "eras.yml"

if str(REPO_ROOT / ".build" / "collections") not in sys.path:  # running as a script
    sys.path.insert(0, str(REPO_ROOT / ".build" / "collections"))

from ansible_collections.velero_ops.tuning.plugins.module_utils import _chart_eras as eras  # noqa: E402
from ansible_collections.velero_ops.tuning.plugins.module_utils import _releases as releases  # noqa: E402
from ansible_collections.velero_ops.tuning.plugins.module_utils._quantity import QUANTITY_PATTERN  # noqa: E402

# Chart namespaces whose children are chart-defined keys (strict). Everything else is free-form.
STRICT_MAPS = (
    "", "namespace", "image", "upgradeCRDsJob", "podDisruptionBudget", "metrics", "metrics.service",
    "metrics.serviceMonitor", "metrics.nodeAgentPodMonitor", "metrics.prometheusRule", "kubectl", "kubectl.image",
    "configuration", eras.MAINTENANCE_JOB, eras.REPOSITORY_CONFIG_DATA, "rbac", "serviceAccount",
    "serviceAccount.server", "credentials", "nodeAgent",
)

# Keys the templates read that values.yaml never mentions (deprecated aliases merged into
# podSecurityContext / nodeAgent.containerSecurityContext in every chart 5.1.0..12.1.0).
TEMPLATE_ONLY_KEYS = {"": {"securityContext"}, "nodeAgent": {"securityContext"}}

# Helm itself passes `global` to every chart.
HELM_KEYS = {"global"}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/$defs/{name}"}


# --- Items of lists and maps of objects ---------------------------------------------------------
# The chart reads these item by item (``range``), key by key: an item's unknown key is silently dropped, so they
# are as strict as the top level. The keys come from the chart releases of the era (the union: a key some
# release of the era reads is accepted), read from their templates; maps the chart passes through untyped
# (``config``) stay free-form and are marked ``x-pass-through`` so a stray key can be pointed there.
CHARTS_DIR = VALUES_DIR / "charts"
# (values path, template file, the template line that opens the item loop, how an item's key is read)
ITEM_TEMPLATES = (
    ("configuration.backupStorageLocation", "backupstoragelocation.yaml",
     "range .Values.configuration.backupStorageLocation", re.compile(r"(?<![\w$.\])])\.([a-zA-Z]\w*)")),
    ("configuration.volumeSnapshotLocation", "volumesnapshotlocation.yaml",
     "range .Values.configuration.volumeSnapshotLocation", re.compile(r"(?<![\w$.\])])\.([a-zA-Z]\w*)")),
    ("schedules", "schedule.yaml", "range $scheduleName, $schedule", re.compile(r"\$schedule\.([a-zA-Z]\w*)")),
)
# initContainers items are Kubernetes Containers (toYaml into the pod spec): k8s.io/api core/v1 Container fields.
CONTAINER_FIELDS = (
    "name", "image", "command", "args", "workingDir", "ports", "envFrom", "env", "resources", "resizePolicy",
    "restartPolicy", "volumeMounts", "volumeDevices", "livenessProbe", "readinessProbe", "startupProbe",
    "lifecycle", "terminationMessagePath", "terminationMessagePolicy", "imagePullPolicy", "securityContext",
    "stdin", "stdinOnce", "tty",
)
PASS_THROUGH = {"config": "the chart copies it to the location's spec.config for the provider plugin"}


def template_item_keys(chart: str, template: str, opener: str, key: re.Pattern[str],
                       charts_dir: Path = CHARTS_DIR) -> set[str]:
    """Keys of one item the chart release's template reads inside its ``range`` over the items."""
    text = (charts_dir / chart / "templates" / template).read_text(encoding="utf-8")
    start = text.find(opener)
    if start < 0:
        raise ValueError(f"chart {chart} templates/{template}: {opener!r} not found; update ITEM_TEMPLATES")
    body = text[text.index("\n", start):]
    return {match.group(1) for action in re.findall(r"{{(.*?)}}", body, re.S) for match in key.finditer(action)
            if match.group(1) not in ("Values", "Release", "Chart", "Capabilities", "Template", "Files")}


def schedule_template_keys(chart: str, charts_dir: Path = CHARTS_DIR) -> set[str]:
    """Fields of a Schedule's spec.template (a BackupSpec) in the CRD the chart release ships."""
    crd = yaml.safe_load((charts_dir / chart / "crds" / "schedules.yaml").read_text(encoding="utf-8"))
    version = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return set(version["properties"]["spec"]["properties"]["template"]["properties"])


def _default_item_keys(values: t.Mapping[str, t.Any], path: str) -> set[str]:
    """Keys of the items the values file itself sets at ``path`` (its default location, example schedule)."""
    node: t.Any = values
    for part in path.split("."):
        node = node.get(part) if isinstance(node, t.Mapping) else None
    items = node if isinstance(node, list) else list(node.values()) if isinstance(node, t.Mapping) else []
    return {str(key) for item in items if isinstance(item, t.Mapping) for key in item}


def item_schemas(era: eras.ChartEra, values: t.Mapping[str, t.Any],
                 charts_dir: Path = CHARTS_DIR) -> dict[str, t.Any]:
    """Strict schemas of list items and map entries, by dotted values path: the keys the templates of the era's
    chart releases read, and those the era's values file sets in its own default items."""
    charts = [chart for chart in era.releases if (charts_dir / chart).is_dir()]
    if not charts:
        raise ValueError(f"no chart release of era {era.id} under {charts_dir}")
    keys: dict[str, set[str]] = {}
    for path, template, opener, pattern in ITEM_TEMPLATES:
        keys[path] = set().union(_default_item_keys(values, path),
                                 *(template_item_keys(chart, template, opener, pattern, charts_dir)
                                   for chart in charts))
    backup_spec = set().union(*(schedule_template_keys(chart, charts_dir) for chart in charts))

    def strict(names: t.Iterable[str], typed: dict[str, t.Any] | None = None,
               kinds: t.Any = "object") -> dict[str, t.Any]:
        props = {}
        for name in sorted(names):
            if name in PASS_THROUGH:
                props[name] = {"type": ["object", "null"], "x-pass-through": PASS_THROUGH[name]}
            else:
                props[name] = copy.deepcopy((typed or {}).get(name, {}))
        return {"type": kinds, "properties": props, "additionalProperties": False}

    credential = strict(["name", "key"], kinds=["object", "null"])
    location = {"credential": credential, "annotations": {"type": ["object", "null"]}}
    schedule = strict(keys["schedules"], {
        "template": strict(backup_spec, kinds=["object", "null"]),
        "labels": {"type": ["object", "null"]}, "annotations": {"type": ["object", "null"]}})
    return {
        "configuration.backupStorageLocation": {
            "type": ["array", "null"], "items": strict(keys["configuration.backupStorageLocation"], location)},
        "configuration.volumeSnapshotLocation": {
            "type": ["array", "null"], "items": strict(keys["configuration.volumeSnapshotLocation"], location)},
        "schedules": {"type": ["object", "null"], "additionalProperties": schedule},
        # A string is a template the chart renders with tpl: not checked.
        "initContainers": {"anyOf": [{"type": ["array", "null"], "items": strict(CONTAINER_FIELDS)},
                                     {"type": "string"}]},
    }


POD_RESOURCE_FIELDS = ["cpuRequest", "cpuLimit", "memoryRequest", "memoryLimit"]


def definitions(era: eras.ChartEra) -> dict[str, t.Any]:
    """Shared sub-schemas (``$defs``) of one era."""
    defs: dict[str, t.Any] = {
        "quantity": {"type": "string", "pattern": QUANTITY_PATTERN,
                     "description": "Kubernetes quantity as a string, e.g. 500m, 4Gi"},
        # A container resources map: cpu/memory as quantities (strings or plain numbers), others free.
        "resourceList": {"type": ["object", "null"],
                         "properties": {"cpu": {"anyOf": [ref("quantity"), {"type": ["number", "null"]}]},
                                        "memory": {"anyOf": [ref("quantity"), {"type": ["number", "null"]}]}},
                         "additionalProperties": {"type": ["string", "number", "null"]}},
        "resources": {"type": ["object", "null"],
                      "properties": {"requests": ref("resourceList"), "limits": ref("resourceList"),
                                     "claims": {"type": ["array", "null"]}},
                      "additionalProperties": False},
        "stringList": {"type": ["array", "null"], "items": {"type": "string"}},
        # Numbers the chart prints with {{ . }}: below 1e6 as numbers, else strings (Helm prints 1e+06).
        "count": {"anyOf": [{"type": "integer", "minimum": 0, "maximum": 999999},
                            {"type": "string", "pattern": "^[0-9]+$"}, {"type": "null"}]},
        "rate": {"anyOf": [{"type": "number", "minimum": 0, "maximum": 999999},
                           {"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?$"}, {"type": "null"}]},
        "duration": {"type": ["string", "null"], "pattern": "^(([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+|0)$"},
        "legacyQuantities": {"type": ["object", "null"],
                             "properties": {"cpu": {"anyOf": [ref("quantity"), {"type": "null"}]},
                                            "memory": {"anyOf": [ref("quantity"), {"type": "null"}]}},
                             "additionalProperties": False},
        # Velero PodResources: the four cpu/memory strings always together (an omitted one fails the Job).
        "podResources": {"type": "object",
                         "properties": {name: ref("quantity") for name in POD_RESOURCE_FIELDS},
                         "required": POD_RESOURCE_FIELDS, "additionalProperties": False},
        "configMaps": {"type": ["object", "null"], "additionalProperties": {
            "type": "object",
            "properties": {"labels": {"type": ["object", "null"], "additionalProperties": {"type": "string"}},
                           "data": {"type": ["object", "null"], "additionalProperties": {"type": "string"}}},
            "additionalProperties": False}},
    }
    # podResources as any release of the era's Velero minor reads it (ephemeralStorage* from 1.18.1); the merge
    # refuses what the exact Velero version does not read.
    extra = [name for name in _union(rel.maintenance_pod_resource_fields() for rel in era_releases(era))
             if name not in POD_RESOURCE_FIELDS]
    defs["podResources"]["properties"].update({name: ref("quantity") for name in extra})
    if era.maintenance == "config-data":
        defs["maintenanceGlobal"] = maintenance_entry(era, "global")
        defs["maintenanceRepository"] = maintenance_entry(era, "repository")
    return defs


def era_releases(era: eras.ChartEra) -> list[releases.VeleroRelease]:
    """Every known release of the era's Velero minor (a chart of the era may run any patch via image.tag)."""
    return [releases.release(version) for version in releases.known_versions()
            if releases.parse_version(version)[1] == era.velero_minor]


def _union(groups: t.Iterable[t.Iterable[str]]) -> list[str]:
    seen: list[str] = []
    for group in groups:
        seen += [name for name in group if name not in seen]
    return seen


# JSON Schema of each maintenance ConfigMap field (JobConfigs, pkg/types/repo_maintenance.go).
MAINTENANCE_FIELD_SCHEMAS: dict[str, dict[str, t.Any]] = {
    "podResources": ref("podResources"),
    "loadAffinity": {"type": ["array", "null"], "items": {"type": "object"}},
    "keepLatestMaintenanceJobs": {"type": "integer", "minimum": 0},
    "priorityClassName": {"type": "string"},
    "podLabels": {"type": ["object", "null"], "additionalProperties": {"type": "string"}},
    "podAnnotations": {"type": ["object", "null"], "additionalProperties": {"type": "string"}},
}


def maintenance_entry(era: eras.ChartEra, entry: t.Literal["global", "repository"]) -> dict[str, t.Any]:
    """One repo-maintenance ConfigMap entry as the era's Velero reads it (_releases.MAINTENANCE_CONFIG_FIELDS)."""
    fields = _union(rel.maintenance_config_fields(entry) for rel in era_releases(era))
    props = {name: copy.deepcopy(MAINTENANCE_FIELD_SCHEMAS[name]) for name in fields}
    return {"type": ["object", "null"], "properties": props, "additionalProperties": False}


def typed_overlays() -> dict[str, dict[str, t.Any]]:
    """Exact schemas for the keys the collection emits (and their containers), by dotted path."""
    return {
        eras.CLIENT_QPS: ref("rate"),
        eras.CLIENT_BURST: ref("count"),
        eras.CLIENT_PAGE_SIZE: ref("count"),
        eras.MAINTAIN_FREQUENCY: ref("duration"),
        eras.SERVER_RESOURCES: ref("resources"),
        eras.NODE_AGENT_RESOURCES: ref("resources"),
        eras.SERVER_EXTRA_ARGS: ref("stringList"),
        eras.NODE_AGENT_EXTRA_ARGS: ref("stringList"),
        eras.EXTRA_OBJECTS: {"type": ["array", "null"], "items": {"type": "object"}},
        eras.CONFIG_MAPS: ref("configMaps"),
        eras.MAINTENANCE_REQUESTS: ref("legacyQuantities"),
        eras.MAINTENANCE_LIMITS: ref("legacyQuantities"),
        eras.MAINTENANCE_LATEST_JOBS: {"type": ["integer", "null"], "minimum": 0},
        eras.REPOSITORY_CONFIG_DATA + ".name": {"type": ["string", "null"]},
        eras.REPOSITORY_CONFIG_GLOBAL: ref("maintenanceGlobal"),
        eras.REPOSITORY_CONFIG_REPOSITORIES: {
            "type": ["object", "null"],
            # <volumeNamespace>-<backupStorageLocation>-<repositoryType>
            "patternProperties": {"^.+-.+-(kopia|restic)$": ref("maintenanceRepository")},
            "additionalProperties": False},
    }


_REAL_KEY = re.compile(r"^(\s*)(- +)?(\"[^\"]+\"|'[^']+'|[^\s#\"'][^#:]*?):(\s|$)")
# "# key:" or "# key: value" with exactly one space after "#", so the "#" sits in the key's column;
# deeper-indented commented keys are nested examples, and "# ref: https://..." is prose.
_COMMENTED_KEY = re.compile(r"^( *)# ([a-z][A-Za-z0-9]*):(?:$| +(?!https?:)(\S.*))")


def _comment_column(line: str) -> int | None:
    """Column of the text inside a comment line as if the "# " were not there (None: not a comment)."""
    stripped = line.lstrip(" ")
    if not stripped.startswith("#"):
        return None
    inner = stripped[1:]
    return len(line) - len(stripped) + max(len(inner) - len(inner.lstrip(" ")) - 1, 0)


def commented_keys(text: str) -> dict[str, set[str]]:
    """Keys a values.yaml documents in comments (``  # digest:``), by the dotted path of their map.

    A commented key belongs to the map whose children sit at the comment's column. A bare ``# name:``
    that opens a deeper commented block right under ``key: {}`` is an example of that key's free-form
    content (``resources: {}`` / ``# requests:`` / ``#   cpu: 500m``), not a sibling.
    """
    found: dict[str, set[str]] = {}
    stack: list[tuple[int, str]] = []  # (column, key) of open real keys
    child_column: dict[str, int] = {"": 0}
    glued = False
    lines = text.splitlines()
    for index, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            glued = False
            continue
        if stripped.startswith("#"):
            match = _COMMENTED_KEY.match(line)
            if not match:
                continue
            column = len(match.group(1))
            following = _comment_column(lines[index + 1]) if index + 1 < len(lines) else None
            opens_block = match.group(3) is None and following is not None and following > column
            if glued and opens_block:
                continue
            parent = ".".join(key for col, key in stack if col < column)
            if child_column.get(parent) == column:
                found.setdefault(parent, set()).add(match.group(2))
            continue
        match = _REAL_KEY.match(line)
        if not match:
            glued = False
            continue
        column = len(match.group(1)) + len(match.group(2) or "")
        key = match.group(3).strip("\"'")
        while stack and stack[-1][0] >= column:
            stack.pop()
        parent = ".".join(k for _c, k in stack)
        child_column.setdefault(parent, column)
        if match.group(2):  # a list item opens an anonymous level
            stack.append((column - len(match.group(2)), "[]"))
            parent = ".".join(k for _c, k in stack)
            child_column.setdefault(parent, column)
        stack.append((column, key))
        glued = line.split(":", 1)[1].strip() in ("{}", "[]")
    return found


def _drop(tree: dict[str, t.Any], dotted: str) -> None:
    *parents, last = dotted.split(".")
    node: t.Any = tree
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(last, None)


def _build(node: t.Any, path: str, comments: dict[str, set[str]], overlays: dict[str, dict[str, t.Any]]) -> dict:
    if path in overlays:
        return copy.deepcopy(overlays[path])
    if path in STRICT_MAPS and isinstance(node, dict):
        props: dict[str, t.Any] = {}
        for key, value in node.items():
            child = f"{path}.{key}" if path else str(key)
            props[str(key)] = _build(value, child, comments, overlays)
        extra = comments.get(path, set()) | TEMPLATE_ONLY_KEYS.get(path, set()) | (HELM_KEYS if path == "" else set())
        for key in sorted(extra - set(props)):
            child = f"{path}.{key}" if path else key
            props[key] = copy.deepcopy(overlays.get(child, {}))
        schema: dict[str, t.Any] = {"type": "object" if path == "" else ["object", "null"],
                                    "properties": props, "additionalProperties": False}
        return schema
    return {}  # free-form, as in the chart


def make_schema(era: eras.ChartEra, values_dir: Path = VALUES_DIR) -> dict[str, t.Any]:
    source = values_dir / era.values_file
    text = source.read_text(encoding="utf-8")
    values = yaml.safe_load(text)
    comments = commented_keys(text)
    for dotted in era.absent:
        _drop(values, dotted)
        parent, _sep, last = dotted.rpartition(".")
        comments.get(parent, set()).discard(last)
    overlays = {**item_schemas(era, values, values_dir / "charts"), **typed_overlays()}
    schema = _build(values, "", comments, overlays)
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://example.invalid/velero_ops/tuning/schemas/helm-values/{era.schema_name}",
        "title": f"Velero Helm chart {era.first} to {era.last} values (strict)",
        "description": (f"Generated from the chart's values.yaml ({era.values_file}) by "
                        "tools/schema_gen.py; do not edit by hand. Chart namespaces "
                        "allow only the chart's keys; tuning keys are typed."),
        "x-chart-versions": [era.first, era.last],
        "x-velero-versions": era.velero_versions,
        **schema,
        "$defs": definitions(era),
    }
    return schema


def render(schema: dict[str, t.Any]) -> str:
    return json.dumps(schema, indent=1, sort_keys=False, ensure_ascii=False) + "\n"


# Values of the hand-written schemas that come from the release table: (file, JSON path, value).
def release_schema_values() -> list[tuple[Path, tuple[str, ...], str]]:
    sizing = REPO_ROOT / "schemas" / "sizing-input.schema.json"
    recommendation = REPO_ROOT / "schemas" / "recommendation.schema.json"
    return [
        (sizing, ("properties", "velero_version", "pattern"), releases.VERSION_PATTERN),
        (sizing, ("properties", "velero_version", "description"),
         f"Velero version, {releases.SUPPORTED_RANGE}; quote it in YAML (an unquoted 1.14 is a float)."),
        (recommendation, ("properties", "velero_version", "pattern"), releases.RECOMMENDATION_VERSION_PATTERN),
    ]


def _json_at(data: t.Any, path: tuple[str, ...]) -> t.Any:
    for part in path:
        data = data[part]
    return data


def set_json_string(text: str, path: tuple[str, ...], value: str) -> str:
    """``text`` with the string at ``path`` replaced by ``value``, the rest of the hand-formatted file untouched."""
    current = _json_at(json.loads(text), path)
    if current == value:
        return text
    old, new = json.dumps(current, ensure_ascii=False), json.dumps(value, ensure_ascii=False)
    key = json.dumps(path[-1])
    pattern = re.compile(re.escape(key) + r"(\s*:\s*)" + re.escape(old))
    if len(pattern.findall(text)) != 1:
        raise ValueError(f"cannot place {'/'.join(path)}: {key}: {old} is not in the file exactly once")
    updated = pattern.sub(lambda match: key + match.group(1) + new, text)
    if _json_at(json.loads(updated), path) != value:
        raise ValueError(f"replacing {'/'.join(path)} changed another value")
    return updated


def molecule_eras_text(current: str) -> str:
    """eras.yml with its ``molecule_helm_eras`` list made from ERAS (chart = the era's last release)."""
    rows = [f"  - {{era: {era.id}, chart: {era.last}, velero: {era.velero_versions[-1]}, route: {era.maintenance}}}"
            for era in eras.ERAS]
    lines = current.splitlines()
    start = lines.index("molecule_helm_eras:") + 1
    end = start
    while end < len(lines) and lines[end].startswith("  - "):
        end += 1
    return "\n".join(lines[:start] + rows + lines[end:]) + "\n"


def derived_texts(values_dir: Path = VALUES_DIR) -> dict[Path, str]:
    """Every derived file and the text it should have."""
    texts: dict[Path, str] = {SCHEMA_DIR / era.schema_name: render(make_schema(era, values_dir)) for era in eras.ERAS}
    for path, pointer, value in release_schema_values():
        current = texts.get(path) or path.read_text(encoding="utf-8")
        texts[path] = set_json_string(current, pointer, value)
    texts[MOLECULE_ERAS] = molecule_eras_text(MOLECULE_ERAS.read_text(encoding="utf-8"))
    return texts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--write", action="store_true", help="rewrite stale files")
    parser.add_argument("--values-dir", type=Path, default=VALUES_DIR)
    args = parser.parse_args(argv)
    if not args.values_dir.is_dir():
        print(f"values files not found: {args.values_dir} (expected ../shared/velero-chart beside the repo)",
              file=sys.stderr)
        return 2
    stale = []
    for target, text in derived_texts(args.values_dir).items():
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            stale.append(target)
            if args.write:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
    wanted = {era.schema_name for era in eras.ERAS}
    leftovers = [path for path in sorted(SCHEMA_DIR.glob("chart-*.schema.json")) if path.name not in wanted]
    for path in stale:
        print(("wrote " if args.write else "stale: ") + str(path.relative_to(REPO_ROOT)))
    for path in leftovers:
        print(("removed " if args.write else "not an era any more: ") + str(path.relative_to(REPO_ROOT)))
        if args.write:
            path.unlink()
    return 0 if args.write or not (stale or leftovers) else 1


if __name__ == "__main__":
    sys.exit(main())
