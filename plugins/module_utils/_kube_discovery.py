# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Kubernetes API discovery documents -> served resource types (``APIResource``), one per resource in its
preferred version as client-go's ``ServerPreferredResources``. ``KubeClient.discover`` fetches the documents;
this module only reads them (aggregated ``APIGroupDiscoveryList`` or legacy per-group-version lists).

Pure Python, no Ansible imports.
"""

from __future__ import annotations

import dataclasses
import typing as t


@dataclasses.dataclass(frozen=True)
class APIResource:
    """One served resource type (preferred version of its group)."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    verbs: tuple[str, ...] = ()
    short_names: tuple[str, ...] = ()
    singular: str = ""
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()

    @property
    def resource(self) -> str:
        return self.plural

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> str:
        """Velero's spelling: ``pods`` for the core group, ``deployments.apps`` otherwise."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if namespace and self.namespaced:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name:
            base += f"/{name}"
        return base

    def supports(self, *verbs: str) -> bool:
        return all(verb in self.verbs for verb in verbs)


def _tuple(value: t.Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, (list, tuple)) else ()


def aggregated_versions(document: t.Mapping[str, t.Any], failures: dict[str, str]) -> list[tuple[str, list[tuple[str, list[APIResource]]]]]:
    """``[(group, [(version, resources), ...preferred first]), ...]`` from an APIGroupDiscoveryList."""
    groups = []
    for item in document.get("items") or []:
        group = ((item.get("metadata") or {}).get("name")) or ""
        versions = []
        for entry_version in item.get("versions") or []:  # descending order of preference
            version = str(entry_version.get("version", ""))
            if entry_version.get("freshness") == "Stale":
                failures[f"{group}/{version}" if group else version] = "discovery document is stale"
                continue
            resources = []
            for entry in entry_version.get("resources") or []:
                response_kind = entry.get("responseKind") or {}
                resources.append(APIResource(
                    group=group, version=version, plural=str(entry.get("resource", "")),
                    kind=str(response_kind.get("kind", "")), namespaced=entry.get("scope") == "Namespaced",
                    verbs=_tuple(entry.get("verbs")), short_names=_tuple(entry.get("shortNames")),
                    singular=str(entry.get("singularResource", "")), categories=_tuple(entry.get("categories")),
                    subresources=tuple(str(s.get("subresource", "")) for s in entry.get("subresources") or []),
                ))
            versions.append((version, resources))
        groups.append((group, versions))
    return groups


def parse_resource_list(group: str, version: str, document: t.Mapping[str, t.Any]) -> list[APIResource]:
    entries = document.get("resources") or []
    subresources: dict[str, list[str]] = {}
    for entry in entries:
        name = str(entry.get("name", ""))
        if "/" in name:
            parent, sub = name.split("/", 1)
            subresources.setdefault(parent, []).append(sub)
    resources = []
    for entry in entries:
        name = str(entry.get("name", ""))
        if not name or "/" in name:
            continue
        resources.append(APIResource(
            group=group, version=version, plural=name, kind=str(entry.get("kind", "")),
            namespaced=bool(entry.get("namespaced")), verbs=_tuple(entry.get("verbs")),
            short_names=_tuple(entry.get("shortNames")), singular=str(entry.get("singularName", "")),
            categories=_tuple(entry.get("categories")), subresources=tuple(subresources.get(name, ())),
        ))
    return resources


def preferred_resources(groups: t.Sequence[tuple[str, t.Sequence[tuple[str, t.Sequence[APIResource]]]]]) -> list[APIResource]:
    """client-go ``ServerPreferredResources``: each resource once, in its group's preferred version if
    served there, otherwise in the first (most preferred) version that serves it
    (e.g. ``datauploads.velero.io`` exists only in ``v2alpha1`` while ``v1`` is preferred)."""
    result: list[APIResource] = []
    for group, versions in groups:
        chosen: dict[str, APIResource] = {}
        for _version, resources in versions:
            for resource in resources:
                chosen.setdefault(resource.plural, resource)
        result.extend(chosen.values())
    return result
