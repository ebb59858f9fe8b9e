# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Strict validation of merged Helm values: the chart era's JSON Schema (schemas/helm-values/), with a hint
for every rejected key (misspelling, mis-indentation, retired or legacy key), and the extraArgs flags checked
against the cluster's Velero release (``check_flags``).

Pure Python, no Ansible imports; raises ``ValueError`` listing every problem.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
import typing as t
from pathlib import Path

from . import _chart_eras as eras
from ._fields import nested_get
from ._releases import MAINTENANCE_CONFIG_FIELDS, known_versions, release, unknown_flag
from ._values_merge import flag_name, parent_mapping
from ._values_plan import POD_RESOURCE_FIELDS

try:
    import jsonschema
    HAS_JSONSCHEMA = True
    JSONSCHEMA_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - exercised only without the requirement installed
    HAS_JSONSCHEMA = False
    JSONSCHEMA_IMPORT_ERROR = str(exc)

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas" / "helm-values"

# Keys users still carry from older charts, and what to do instead (message hints).
RETIRED_KEYS = {
    "restic": "renamed to nodeAgent in chart 3.0.0",
    "deployRestic": "renamed to deployNodeAgent in chart 3.0.0",
    "configuration.resticTimeout": "renamed to configuration.fsBackupTimeout in chart 3.0.0",
    "configuration.defaultResticPruneFrequency": "renamed to configuration.defaultRepoMaintainFrequency in chart 3.0.0",
    "configuration.defaultVolumesToRestic": "renamed to configuration.defaultVolumesToFsBackup in chart 3.0.0",
    "nodeAgent.privileged": "removed in chart 6.0.0; use nodeAgent.containerSecurityContext.privileged",
}


def _legacy_maintenance_hint(era: eras.ChartEra, full: str) -> str:
    if full.startswith(eras.MAINTENANCE_REQUESTS) and eras.MAINTENANCE_REQUESTS in era.absent:
        return ("charts 7.1.2 and 7.1.3 fail to render with repositoryMaintenanceJob.requests.cpu/memory (template "
                "bug fixed in chart 7.1.4); the collection passes --maintenance-job-*-request through "
                "configuration.extraArgs instead")
    if era.legacy_maintenance_keys_fail:
        return ("removed in chart 11.0.0: the chart refuses to render while it is set; size maintenance Jobs "
                "with configuration.repositoryMaintenanceJob.repositoryConfigData.global.podResources")
    if era.maintenance in ("server-resources", "server-flags"):
        return (f"chart {era.first} to {era.last} has no maintenance-job keys (added in chart 7.1.2); "
                "the chart would silently ignore it")
    return "not a key of this chart release"


_VALIDATORS: dict[str, t.Any] = {}


def load_schema(era: eras.ChartEra) -> dict[str, t.Any]:
    path = SCHEMA_DIR / era.schema_name
    try:
        with open(path, encoding="utf-8") as handle:
            return t.cast("dict[str, t.Any]", json.load(handle))
    except OSError as exc:
        raise ValueError(f"chart era {era.id}: schema {path} is missing ({exc.strerror}); the collection "
                         "install is incomplete") from None


def _validator(era: eras.ChartEra) -> t.Any:
    if not HAS_JSONSCHEMA:
        raise ValueError(f"validating Helm values needs the Python package jsonschema on the controller "
                         f"(pip install jsonschema): {JSONSCHEMA_IMPORT_ERROR}")
    if era.id not in _VALIDATORS:
        _VALIDATORS[era.id] = jsonschema.Draft202012Validator(load_schema(era))
    return _VALIDATORS[era.id]


def known_paths(schema: t.Mapping[str, t.Any]) -> list[str]:
    """Every dotted key path a schema names (for "did you mean" hints); list items are ``[]``, map entries ``*``
    (``configuration.backupStorageLocation[].config``, ``schedules.*.template.ttl``)."""
    defs = schema.get("$defs", {})
    paths: list[str] = []

    def walk(node: t.Mapping[str, t.Any], prefix: str, depth: int) -> None:
        if depth > 8:
            return
        if "$ref" in node:
            node = defs.get(node["$ref"].rsplit("/", 1)[-1], {})
        for key, child in (node.get("properties") or {}).items():
            path = f"{prefix}.{key}" if prefix else key
            paths.append(path)
            walk(child, path, depth + 1)
        for option in node.get("anyOf") or []:
            walk(option, prefix, depth + 1)
        if isinstance(node.get("items"), t.Mapping):
            walk(node["items"], prefix + "[]", depth + 1)
        if isinstance(node.get("additionalProperties"), t.Mapping) and prefix:
            walk(node["additionalProperties"], prefix + ".*", depth + 1)

    walk(schema, "", 0)
    return list(dict.fromkeys(paths))


def _path_text(parts: t.Iterable[t.Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _generic_parts(schema: t.Mapping[str, t.Any], parts: t.Sequence[t.Any]) -> list[str]:
    """The schema's name of each part of a concrete path: ``[]`` for a list index, ``*`` for a map entry."""
    defs = schema.get("$defs", {})
    node: t.Any = schema
    generic: list[str] = []
    for part in parts:
        if isinstance(node, t.Mapping) and "$ref" in node:
            node = defs.get(node["$ref"].rsplit("/", 1)[-1], {})
        options = [node] + list(node.get("anyOf") or []) if isinstance(node, t.Mapping) else []
        if isinstance(part, int):
            generic.append("[]")
            node = next((o["items"] for o in options if isinstance(o.get("items"), t.Mapping)), {})
        elif any(part in (o.get("properties") or {}) for o in options):
            generic.append(str(part))
            node = next(o["properties"][part] for o in options if part in (o.get("properties") or {}))
        else:
            generic.append("*")
            node = next((o["additionalProperties"] for o in options
                         if isinstance(o.get("additionalProperties"), t.Mapping)), {})
    return generic


def _join(parts: t.Sequence[str]) -> str:
    text = ""
    for part in parts:
        text += part if part.startswith("[") else (f".{part}" if text else part)
    return text


def _unknown_key_message(era: eras.ChartEra, schema: t.Mapping[str, t.Any], parts: t.Sequence[t.Any], key: str,
                         paths: list[str]) -> str:
    parent = _path_text(parts)
    generic = _join(_generic_parts(schema, parts))
    full = f"{parent}.{key}" if parent else key
    where = f"under {parent}" if parent else "at the top level"
    message = f"unknown key {full!r} ({where}) for chart {era.first} to {era.last}"
    if full in RETIRED_KEYS:
        return f"{message}: {RETIRED_KEYS[full]}"
    if full in (eras.MAINTENANCE_JOB, eras.MAINTENANCE_REQUESTS, eras.MAINTENANCE_LIMITS,
                eras.MAINTENANCE_LATEST_JOBS):
        return f"{message}: {_legacy_maintenance_hint(era, full)}"
    prefix = parent + "." if parent else ""
    siblings = [path[len(generic) + 1:] if generic else path for path in paths
                if path.startswith(generic + "." if generic else "") and "." not in path[len(generic) + 1:]
                and "[" not in path[len(generic) + 1:]] if generic else [p for p in paths if "." not in p
                                                                         and "[" not in p]
    # A misspelling of a sibling (clientQps, resource) first, then the same name elsewhere (mis-indented).
    lowered = {sibling.lower(): sibling for sibling in siblings}
    close = [s for s in siblings if s.lower() == key.lower()]
    close = close or difflib.get_close_matches(key, siblings, n=2, cutoff=0.75)
    close = close or [lowered[c] for c in difflib.get_close_matches(key.lower(), list(lowered), n=2, cutoff=0.75)]
    if close:
        return f"{message}; did you mean {' or '.join(prefix + name for name in close)}?"
    own = f"{generic}.{key}" if generic else key
    elsewhere = [path for path in paths if path.rsplit(".", 1)[-1].lower() == key.lower() and path != own]
    # Deeper in the same item first (schedules.<name>.ttl belongs at schedules.<name>.template.ttl), shown with
    # the user's own names and indexes.
    inside = [parent + path[len(generic):] for path in elsewhere if generic and path.startswith(generic + ".")]
    if inside:
        return f"{message}; it belongs at {' or '.join(inside[:3])} (mis-indented?)"
    if elsewhere:
        shown = [path.replace("[]", "[0]").replace(".*.", ".<name>.") for path in elsewhere[:3]]
        return f"{message}; it belongs at {' or '.join(shown)} (mis-indented?)"
    pass_through = _pass_through(schema, parts)
    if pass_through:
        name, note = pass_through[0]
        return (f"{message}; it belongs at {prefix}{name}.{key} (mis-indented? {name} is passed through untyped: "
                f"{note})")
    return f"{message} (the chart would silently ignore it)"


def _pass_through(schema: t.Mapping[str, t.Any], parts: t.Sequence[t.Any]) -> list[tuple[str, str]]:
    """Free-form maps (``x-pass-through``) of the object at ``parts``: where a stray provider key belongs."""
    defs = schema.get("$defs", {})
    node: t.Any = schema
    for part in parts:
        if isinstance(node, t.Mapping) and "$ref" in node:
            node = defs.get(node["$ref"].rsplit("/", 1)[-1], {})
        if not isinstance(node, t.Mapping):
            return []
        if isinstance(part, int):
            node = node.get("items") or {}
        elif part in (node.get("properties") or {}):
            node = node["properties"][part]
        else:
            node = node.get("additionalProperties") if isinstance(node.get("additionalProperties"), t.Mapping) else {}
    props = node.get("properties") or {} if isinstance(node, t.Mapping) else {}
    return [(name, str(child["x-pass-through"])) for name, child in props.items()
            if isinstance(child, t.Mapping) and child.get("x-pass-through")]


def _describe_expected(schema: t.Mapping[str, t.Any], defs: t.Mapping[str, t.Any]) -> str:
    hints = {
        "count": "a whole number below 1000000, or a quoted string of digits (Helm prints 1000000 as 1e+06)",
        "rate": "a number below 1000000, or a quoted number (Helm prints 1000000 as 1e+06)",
        "quantity": "a Kubernetes quantity string such as \"500m\" or \"4Gi\" (quoted)",
        "duration": "a Go duration string such as \"1h\" or \"168h\"",
        "stringList": "a list of strings such as [\"--flag=value\"]",
    }
    for name, schema_def in defs.items():
        if schema_def is schema or schema_def == schema:
            if name in hints:
                return hints[name]
    kinds = schema.get("type")
    if kinds:
        return "of type " + (" or ".join(kinds) if isinstance(kinds, list) else kinds)
    return "a value the chart accepts"


def validate_values(values: t.Mapping[str, t.Any], era: eras.ChartEra, *, user_values: t.Mapping[str, t.Any] | None
                    = None, unchecked: t.Iterable[str] = (), field: str = "velero_values_overrides") -> None:
    """Raise ``ValueError`` listing every key the era's strict schema rejects, with a hint for each."""
    validator = _validator(era)
    schema = validator.schema
    defs = schema.get("$defs", {})
    checked = copy.deepcopy(dict(values))
    for dotted in unchecked:
        try:
            container, last = parent_mapping(checked, dotted, create=False)
        except KeyError:
            continue
        container.pop(last, None)
    errors = sorted(_leaf_errors(validator.iter_errors(checked)),
                    key=lambda e: (list(map(str, e.absolute_path)), e.message))
    if not errors:
        return
    paths = known_paths(schema)
    problems: list[str] = []
    for error in errors:
        location = _path_text(error.absolute_path)
        source = _source(user_values, list(error.absolute_path), field)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = set((error.schema.get("properties") or {}))
            patterns = list((error.schema.get("patternProperties") or {}))
            for key in sorted(error.instance):
                if key in allowed or any(re.search(p, key) for p in patterns):
                    continue
                if patterns:
                    problems.append(f"{source}: key {location + '.' + key!r} is not a repository key "
                                    "<volumeNamespace>-<backupStorageLocation>-<kopia|restic>")
                else:
                    problems.append(f"{source}: "
                                    f"{_unknown_key_message(era, schema, list(error.absolute_path), key, paths)}")
        elif error.validator == "required":
            problems.append(f"{source}: {location}: {error.message}; Velero needs all four of "
                            f"{', '.join(POD_RESOURCE_FIELDS)} (\"0\" = unbounded)")
        else:
            problems.append(f"{source}: {location or 'values'} = {error.instance!r} is not valid for chart "
                            f"{era.first} to {era.last}: expected {_describe_expected(error.schema, defs)}")
    raise ValueError("; ".join(dict.fromkeys(problems)))


def _leaf_errors(errors: t.Iterable[t.Any]) -> t.Iterator[t.Any]:
    """Errors with an ``anyOf`` (initContainers: a list of containers, or a template string) replaced by those of
    the option of the value's own type, so an unknown container key gets its own message."""
    for error in errors:
        if error.validator == "anyOf" and error.context:
            # The option of another type fails on "type" only; what remains is the matching option's own problem.
            nested = [sub for sub in error.context if sub.validator != "type"]
            if not all(sub.relative_path or sub.validator == "additionalProperties" for sub in nested):
                nested = []  # a bad value itself (1000000 for a count): the anyOf error names the accepted forms
            if nested:
                yield from _leaf_errors(nested)
                continue
        yield error


def _source(user_values: t.Mapping[str, t.Any] | None, parts: list[t.Any], field: str) -> str:
    node: t.Any = user_values or {}
    for part in parts:
        if isinstance(node, t.Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return "rendered values" if parts else field
    return field


def check_location_config(values: t.Mapping[str, t.Any], chart_version: str, *,
                          field: str = "velero_values_overrides") -> None:
    """Raise ``ValueError`` for location items without `config` where the chart's own schema requires it."""
    if not eras.location_config_required(chart_version):
        return
    first, last = eras.LOCATION_CONFIG_REQUIRED
    missing = [f"{path}[{index}].config" for path in eras.LOCATION_LISTS
               for index, item in enumerate(nested_get(values, path) or [])
               if isinstance(item, t.Mapping) and "config" not in item]
    if missing:
        raise ValueError(f"{field}: {', '.join(missing)} is required by chart {chart_version} (charts {first} to "
                         f"{last} require config in every location item in their values.schema.json, and helm "
                         "refuses values without it); add config: {} to the item, or use a newer chart release")


def check_flags(values: t.Mapping[str, t.Any], era: eras.ChartEra, velero_version: t.Any, *,
                user_values: t.Mapping[str, t.Any] | None = None, field: str = "velero_values_overrides") -> None:
    """Raise ``ValueError`` for extraArgs flags the cluster's Velero does not have (it would refuse to start)."""
    rel = release(velero_version)
    problems: list[str] = []
    for args_key, component in ((era.server_extra_args, "server"), (era.node_agent_extra_args, "node-agent")):
        args = nested_get(values, args_key) if args_key else None
        if not isinstance(args, list):
            continue
        theirs = nested_get(user_values or {}, t.cast(str, args_key))
        for arg in args:
            name = flag_name(arg)
            problem = unknown_flag(rel, component, name) if name else None
            if problem:
                source = field if isinstance(theirs, list) and arg in theirs else "rendered values"
                problems.append(f"{source}: {args_key} {arg}: {problem}")
    if problems:
        raise ValueError("; ".join(dict.fromkeys(problems)))


def _first_release_reading(pod_field: str) -> str:
    """The first known Velero release whose maintenance podResources has ``pod_field``."""
    return next((version for version in known_versions()
                 if pod_field in release(version).maintenance_pod_resource_fields()), "no known release")


def check_maintenance_config(values: t.Mapping[str, t.Any], era: eras.ChartEra, velero_version: t.Any, *,
                             user_values: t.Mapping[str, t.Any] | None = None,
                             field: str = "velero_values_overrides") -> list[str]:
    """Check the maintenance ConfigMap entries against what this exact Velero release reads; return warnings.

    The era's schema accepts what any patch of its Velero minor reads; Velero's json.Unmarshal ignores the
    rest silently, so a field this release does not read (podResources.ephemeralStorage* before 1.18.1, a
    global-only field in a repository's entry) is refused here with what reads it. Velero 1.18 uses only the
    first loadAffinity entry: a longer list gets a warning.
    """
    if era.maintenance != "config-data":
        return []
    rel = release(velero_version)
    first_minor = {name: minor for name, minor, _global in MAINTENANCE_CONFIG_FIELDS}
    global_only = {name for name, _minor, is_global in MAINTENANCE_CONFIG_FIELDS if is_global}
    entries: list[tuple[str, str, t.Any]] = [("global", eras.REPOSITORY_CONFIG_GLOBAL,
                                              nested_get(values, eras.REPOSITORY_CONFIG_GLOBAL))]
    repositories = nested_get(values, eras.REPOSITORY_CONFIG_REPOSITORIES)
    if isinstance(repositories, t.Mapping):
        entries += [("repository", f"{eras.REPOSITORY_CONFIG_REPOSITORIES}.{key}", entry)
                    for key, entry in repositories.items()]
    problems: list[str] = []
    warnings: list[str] = []
    for kind, path, entry in entries:
        if not isinstance(entry, t.Mapping):
            continue
        source = field if nested_get(user_values or {}, path) is not None else "rendered values"
        readable = rel.maintenance_config_fields(t.cast(t.Literal["global", "repository"], kind))
        for name in entry:
            if name in readable or name not in first_minor:
                continue  # an unknown name is the schema's to report
            if kind == "repository" and name in global_only and rel.version[1] >= first_minor[name]:
                why = "only from the global entry"
            else:
                why = f"only from Velero 1.{first_minor[name]}"
            problems.append(f"{source}: {path}.{name}: Velero {rel.text} does not read it ({why}); it would be "
                            f"ignored silently")
        pods = entry.get("podResources")
        if isinstance(pods, t.Mapping):
            for name in pods:
                if name not in rel.maintenance_pod_resource_fields() and name not in POD_RESOURCE_FIELDS:
                    problems.append(f"{source}: {path}.podResources.{name}: Velero {rel.text} does not read it "
                                    f"(from Velero {_first_release_reading(name)}); it would be ignored silently")
        affinity = entry.get("loadAffinity")
        if rel.load_affinity_first_only and isinstance(affinity, list) and len(affinity) > 1:
            warnings.append(f"{path}.loadAffinity has {len(affinity)} entries: Velero {rel.text} uses only the first "
                            f"(PR #9494), so maintenance Jobs are scheduled by {affinity[0]!r} alone")
    if problems:
        raise ValueError("; ".join(dict.fromkeys(problems)))
    return warnings
