# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The user's Helm values merged with a ``TuningPlan``: their keys stay, tuned keys are set, and every place
where both set something is a ``Conflict`` that the user keeps only where ``velero_values_user_wins`` says so.

Also what the merged values really give the cluster (``effective_server_setting``) and which planned values the
user's kept values override (``mark_kept``). Pure Python, no Ansible imports; raises ``ValueError``.
"""

from __future__ import annotations

import copy
import dataclasses
import typing as t

from . import _chart_eras as eras
from ._fields import describe_value, nested_get, type_name
from ._values_plan import (
    FLAG_KEYS,
    KEY_FLAGS,
    MAINTENANCE_FLAG_FIELDS,
    MAINTENANCE_KEY_FIELDS,
    POD_RESOURCE_FIELDS,
    Placement,
    TuningPlan,
    describe,
    same_value,
)


@dataclasses.dataclass
class Conflict:
    path: str
    user: t.Any
    tuned: t.Any
    winner: str  # "user" | "tuned"

    def as_dict(self) -> dict[str, t.Any]:
        return {"path": self.path, "user": self.user, "tuned": self.tuned, "winner": self.winner}


class UserWins:
    """Which conflicting keys keep the user's value: all (True), none (False) or dotted path prefixes."""

    def __init__(self, spec: t.Any, field: str = "velero_values_user_wins"):
        self.field = field
        if spec is None or isinstance(spec, bool):
            self.all = bool(spec)
            self.prefixes: list[str] = []
        elif isinstance(spec, (list, tuple)) and all(isinstance(item, str) and item.strip() for item in spec):
            self.all = False
            self.prefixes = [item.strip() for item in spec]
        else:
            raise ValueError(f"{field}: expected true, false or a list of dotted values keys such as "
                             f"[configuration.clientQPS, resources], got {type_name(spec)} {describe_value(spec)}")
        self.used: set[str] = set()

    def __call__(self, path: str) -> bool:
        if self.all:
            return True
        for prefix in self.prefixes:
            if path == prefix or path.startswith((prefix + ".", prefix + " ", prefix + "[")):
                self.used.add(prefix)
                return True
        return False

    def unused(self) -> list[str]:
        return [prefix for prefix in self.prefixes if prefix not in self.used]


def flag_name(arg: t.Any) -> str | None:
    """``--client-qps`` of ``--client-qps=50``; None for anything that is not a flag."""
    if not isinstance(arg, str) or not arg.startswith("--"):
        return None
    return arg.split("=", 1)[0]


def flag_value(arg: str) -> str | None:
    """``50`` of ``--client-qps=50``; None for a flag without a value."""
    return arg.split("=", 1)[1] if "=" in arg else None


class _Merge:
    """State of one merge: the result tree, the conflicts (one per path) and who wins them."""

    def __init__(self, user_values: t.Mapping[str, t.Any] | None, plan: TuningPlan, user_wins: UserWins):
        self.result: dict[str, t.Any] = copy.deepcopy(dict(user_values or {}))
        self.plan = plan
        self.user_wins = user_wins
        self.conflicts: list[Conflict] = []

    def conflict(self, path: str, user: t.Any, tuned: t.Any, winner: str) -> None:
        if not any(existing.path == path for existing in self.conflicts):
            self.conflicts.append(Conflict(path, user, tuned, winner))

    def blocked(self, key: str) -> bool:
        """A user scalar or list sits where a mapping on the way to ``key`` is needed. Reported once; True when the
        user keeps it (then nothing of ours goes below it), else it is replaced by an empty mapping."""
        found, current, at = _lookup(self.result, key.split("."))
        if not found or at == key:
            return False
        if self.user_wins(at):
            self.conflict(at, current, "(mapping)", "user")
            return True
        self.conflict(at, current, "(mapping)", "tuned")
        container, last = parent_mapping(self.result, at, create=True)
        container[last] = {}
        return False

    def set_leaf(self, key: str, value: t.Any) -> None:
        if self.blocked(key):
            return
        found, current, _at = _lookup(self.result, key.split("."))
        if found and current is not None:
            if same_value(current, value):
                return
            if self.user_wins(key):
                self.conflict(key, current, value, "user")
                return
            self.conflict(key, current, value, "tuned")
        container, last = parent_mapping(self.result, key, create=True)
        container[last] = copy.deepcopy(value)

    def merge_args(self, key: str, ours: list[str]) -> set[str]:
        """Our flags into the extraArgs list at ``key``, flag by flag; returns the flags whose user value is kept."""
        if not ours:
            return set()
        names = {t.cast(str, flag_name(arg)) for arg in ours}
        if self.blocked(key):
            return names
        container, last = parent_mapping(self.result, key, create=True)
        existing = container.get(last)
        if existing not in (None, []) and not isinstance(existing, list):
            if self.user_wins(key):
                self.conflict(key, existing, ours, "user")
                return names
            self.conflict(key, existing, ours, "tuned")
        args = list(existing) if isinstance(existing, list) else []
        kept: set[str] = set()
        for arg in ours:
            name = t.cast(str, flag_name(arg))
            matches = [index for index, item in enumerate(args) if flag_name(item) == name]
            if not matches:
                args.append(arg)
                continue
            current = args[matches[0]]
            if current == arg:
                continue
            path = f"{key} {name}"
            if self.user_wins(path):
                self.conflict(path, current, arg, "user")
                kept.add(name)
                continue
            self.conflict(path, current, arg, "tuned")
            args[matches[0]] = arg
            for index in reversed(matches[1:]):
                del args[index]
        container[last] = args
        return kept

    def args(self, key: str | None) -> list[t.Any] | None:
        if not key:
            return None
        found, value, at = _lookup(self.result, key.split("."))
        return value if found and at == key and isinstance(value, list) else None

    def delete(self, key: str) -> None:
        try:
            container, last = parent_mapping(self.result, key, create=False)
        except KeyError:
            return
        container.pop(last, None)


def merge_values(user_values: t.Mapping[str, t.Any] | None, plan: TuningPlan, *,
                 user_wins: UserWins | None = None) -> tuple[dict[str, t.Any], list[Conflict]]:
    """The user's values with the plan applied. Their keys stay; tuning keys are set; a conflicting
    user-set tuning key keeps the user's value only where ``user_wins`` says so."""
    merge = _Merge(user_values, plan, user_wins or UserWins(False))
    era = plan.era
    for key, value in plan.leaves:
        merge.set_leaf(key, value)

    # A user flag in extraArgs lands after the flag the chart renders from a key, so it would win silently.
    ours = dict(plan.leaves)
    user_args = merge.args(era.server_extra_args)
    if user_args is not None:
        for key, flag in KEY_FLAGS.items():
            if key not in ours:
                continue
            hits = [arg for arg in user_args if flag_name(arg) == flag]
            if not hits:
                continue
            path = f"{era.server_extra_args} {flag}"
            if merge.user_wins(path) or merge.user_wins(key):
                merge.conflict(path, hits[-1], f"{key}: {ours[key]}", "user")
                continue
            merge.conflict(path, hits[-1], f"{key}: {ours[key]}", "tuned")
            user_args[:] = [arg for arg in user_args if flag_name(arg) != flag]

    kept_flags: dict[str, set[str]] = {}
    if plan.server_args:
        args_key = t.cast(str, era.server_extra_args)
        kept_flags[args_key] = merge.merge_args(args_key, plan.server_args)
        _user_keys_for_our_flags(merge)
    if plan.node_agent_args:
        args_key = t.cast(str, era.node_agent_extra_args)
        kept_flags[args_key] = merge.merge_args(args_key, plan.node_agent_args)
    if era.legacy_maintenance_keys_dropped:
        _move_legacy_maintenance(merge, user_values or {})

    for cm_key, body in plan.config_maps.items():
        kept = [f"{args_key}: {flag}" for args_key, flag in plan.config_map_refs.get(cm_key, [])
                if flag in kept_flags.get(args_key, set())]
        if kept:
            # The user's own flag names another ConfigMap: ours would be read by nobody.
            plan.warnings.append(f"configMaps.{cm_key} is not written: your {', '.join(kept)} is kept and names "
                                 "another ConfigMap, so the tuning in it does not apply")
            continue
        key = f"{eras.CONFIG_MAPS}.{cm_key}.data"
        if merge.blocked(key):
            continue
        found, current, at = _lookup(merge.result, key.split("."))
        container, last = parent_mapping(merge.result, key, create=True)
        # Always a labels mapping: NOTES.txt of charts up to 8.6.0 runs `hasKey $value.labels` on every configMaps
        # entry and fails the render without one (eras.configmap_labels_required).
        if not isinstance(container.get("labels"), t.Mapping):
            container["labels"] = {}
        if found and at == key and same_value(current, body["data"]):
            continue
        if found and current is not None:
            if merge.user_wins(at):
                merge.conflict(at, current, body["data"], "user")
                continue
            merge.conflict(at, current, body["data"], "tuned")
        container[last] = copy.deepcopy(body["data"])

    if plan.extra_objects:
        objects = merge.result.get(eras.EXTRA_OBJECTS)
        if objects not in (None, []) and not isinstance(objects, list):
            raise ValueError(f"velero_values_overrides.{eras.EXTRA_OBJECTS}: expected a list of manifests, "
                             f"got {type_name(objects)} {describe_value(objects)}")
        objects = list(objects or [])
        for obj in plan.extra_objects:
            ident = (obj["kind"], obj["metadata"]["name"])
            path = f"{eras.EXTRA_OBJECTS}[{ident[0]}/{ident[1]}]"
            index = next((i for i, item in enumerate(objects) if isinstance(item, dict)
                          and (item.get("kind"), (item.get("metadata") or {}).get("name")) == ident), None)
            if index is None:
                objects.append(copy.deepcopy(obj))
            elif not same_value(objects[index].get("data"), obj["data"]):
                if merge.user_wins(path):
                    merge.conflict(path, objects[index].get("data"), obj["data"], "user")
                    continue
                merge.conflict(path, objects[index].get("data"), obj["data"], "tuned")
                objects[index] = copy.deepcopy(obj)
        merge.result[eras.EXTRA_OBJECTS] = objects
    return merge.result, merge.conflicts


def _user_keys_for_our_flags(merge: _Merge) -> None:
    """A chart key of the user that renders the same flag as one of ours in extraArgs (for example
    repositoryMaintenanceJob.limits.memory on chart 7.1.2): both would reach the command line."""
    era = merge.plan.era
    for arg in merge.plan.server_args:
        name = t.cast(str, flag_name(arg))
        key = FLAG_KEYS.get(name)
        if key is None:
            continue
        found, current, at = _lookup(merge.result, key.split("."))
        if not found or at != key or current is None:
            continue
        args_list = merge.args(era.server_extra_args)
        if era.legacy_maintenance_keys_dropped:
            # Chart 10.1.x drops the key's flag once repositoryConfigData is set: theirs can only live in our flag.
            if same_value(current, flag_value(arg)):
                merge.delete(key)
                continue
            if merge.user_wins(key):
                merge.conflict(key, current, arg, "user")
                if args_list is not None and arg in args_list:
                    args_list[args_list.index(arg)] = f"{name}={current}"
            else:
                merge.conflict(key, current, arg, "tuned")
            merge.delete(key)
            continue
        path = f"{key} / {era.server_extra_args} {name}"
        if merge.user_wins(key) or merge.user_wins(path):
            merge.conflict(key, current, arg, "user")
            if args_list is not None and arg in args_list:
                args_list.remove(arg)
            continue
        merge.conflict(key, current, arg, "tuned")
        merge.delete(key)


def _move_legacy_maintenance(merge: _Merge, user_values: t.Mapping[str, t.Any]) -> None:
    """Chart 10.1.x: maintenance resources the user set the legacy way conflict with our global.podResources.

    The chart drops repositoryMaintenanceJob.requests/limits once repositoryConfigData.global is set, and Velero
    1.16 lets the ConfigMap's podResources replace --maintenance-job-* flags. So a user's legacy value is either
    moved into global.podResources (all four fields, "0" = unbounded where missing) when it wins, or reported and
    removed; it never stays behind silently ignored.
    """
    era = merge.plan.era
    args_key = t.cast(str, era.server_extra_args)
    global_key = eras.REPOSITORY_CONFIG_GLOBAL + ".podResources"
    theirs: dict[str, str] = {}
    sources: list[tuple[str, t.Any]] = []
    keys: list[str] = []
    for key in (eras.MAINTENANCE_REQUESTS, eras.MAINTENANCE_LIMITS):
        found, value, at = _lookup(merge.result, key.split("."))
        if not found or at != key or not isinstance(value, t.Mapping):
            continue
        for kind in ("cpu", "memory"):
            if value.get(kind) not in (None, ""):
                theirs[MAINTENANCE_KEY_FIELDS[f"{key}.{kind}"]] = str(value[kind])
        sources.append((key, copy.deepcopy(dict(value))))
        keys.append(key)
    args_list = merge.args(args_key) or []
    for arg in list(args_list):
        field = MAINTENANCE_FLAG_FIELDS.get(t.cast(str, flag_name(arg)))
        if field is not None:
            theirs[field] = str(flag_value(arg) or "0")
            sources.append((f"{args_key} {flag_name(arg)}", arg))
    if not sources:
        return
    explicit, _theirs, explicit_at = _lookup(user_values, global_key.split("."))
    _found, tuned, _at = _lookup(merge.result, global_key.split("."))
    wins = any(merge.user_wins(path) for path, _value in sources)
    if wins and not (explicit and explicit_at == global_key):
        moved = {field: theirs.get(field, "0") for field in POD_RESOURCE_FIELDS}
        for path, value in sources:
            merge.conflict(path, value, f"{global_key}: {describe(tuned)}", "user")
        container, last = parent_mapping(merge.result, global_key, create=True)
        container[last] = moved
    else:
        for path, value in sources:
            merge.conflict(path, value, f"{global_key}: {describe(tuned)}", "tuned")
    # Every --maintenance-job-* flag left in extraArgs is one of the sources.
    args_list[:] = [arg for arg in args_list if flag_name(arg) not in MAINTENANCE_FLAG_FIELDS]
    for key in keys:
        merge.delete(key)


def parent_mapping(tree: dict[str, t.Any], dotted: str, create: bool) -> tuple[dict[str, t.Any], str]:
    """(mapping holding the last key of ``dotted``, that key); missing levels are created, or KeyError."""
    parts = dotted.split(".")
    node = tree
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            if not create:
                raise KeyError(dotted)
            child = {}
            node[part] = child
        node = child
    return node, parts[-1]


def _lookup(tree: t.Mapping[str, t.Any], parts: list[str]) -> tuple[bool, t.Any, str]:
    """(found, value, path) of the deepest user value on the way to ``parts`` that is set and not a mapping."""
    node: t.Any = tree
    for depth, part in enumerate(parts):
        if not isinstance(node, t.Mapping) or part not in node:
            return False, None, ""
        node = node[part]
        if depth < len(parts) - 1 and not isinstance(node, t.Mapping):
            if node is None:
                return False, None, ""  # `resources:` with no value = unset
            return True, node, ".".join(parts[:depth + 1])
    return True, node, ".".join(parts)


def _covers(conflict_path: str, path: str) -> bool:
    """A conflict at ``conflict_path`` decides ``path``: the same, a parent (key or extraArgs list) or a child."""
    return (path == conflict_path or path.startswith((conflict_path + ".", conflict_path + " "))
            or conflict_path.startswith((path + ".", path + " ")))


def mark_kept(placements: t.Iterable[Placement], conflicts: t.Iterable[Conflict]) -> None:
    """Mark each placement the user's kept values override (the cluster does not get the tuned value)."""
    kept = [c for c in conflicts if c.winner == "user"]
    for placement in placements:
        mine = [c for c in kept if any(_covers(c.path, path) for path in placement.paths)]
        placement.applied = not mine
        placement.kept = [c.user for c in mine]


def effective_server_setting(values: t.Mapping[str, t.Any], era: eras.ChartEra, key: str) -> t.Any:
    """What `velero server` really gets for a key the chart renders as a flag: a flag of the same name in
    configuration.extraArgs comes later on the command line and wins, else the key's value (None: unset)."""
    flag = KEY_FLAGS.get(key)
    args = nested_get(values, era.server_extra_args) if era.server_extra_args else None
    if flag and isinstance(args, list):
        hits = [arg for arg in args if flag_name(arg) == flag]
        if hits:
            return flag_value(hits[-1])
    return nested_get(values, key)
