# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Check recorded API requests against RBAC rules the way the API server authorizes them.

Written independently of ``_kube_errors.parse_api_path`` (the code under test) on purpose.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import typing as t


@dataclasses.dataclass(frozen=True)
class Attributes:
    verb: str
    api_group: str | None = None  # None: non-resource request
    resource: str = ""  # with /subresource
    namespace: str | None = None
    path: str = ""


def attributes(method: str, path: str, query: t.Mapping[str, str] | None = None) -> Attributes:
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, rest = "", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, rest = parts[1], parts[3:]
    else:
        return Attributes(method.lower(), None, path=path)
    if not rest:
        return Attributes(method.lower(), None, path=path)  # /api/v1, /apis/g/v: discovery
    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3 and not (len(rest) == 3 and rest[2] in ("status", "finalize")):
        namespace, rest = rest[1], rest[2:]
    resource = rest[0] + ("/" + "/".join(rest[2:]) if len(rest) > 2 else "")
    named = len(rest) > 1
    if method == "GET":
        verb = "get" if named else ("watch" if (query or {}).get("watch") in ("1", "true") else "list")
    elif method == "DELETE":
        verb = "delete" if named else "deletecollection"
    else:
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch"}[method]
    return Attributes(verb, group, resource, namespace, path)


def rule_allows(rule: t.Mapping[str, t.Any], request: Attributes) -> bool:
    verbs = rule.get("verbs") or []
    if "*" not in verbs and request.verb not in verbs:
        return False
    if request.api_group is None:
        return any(url == request.path or (url.endswith("*") and request.path.startswith(url[:-1]))
                   for url in rule.get("nonResourceURLs") or [])
    if rule.get("nonResourceURLs"):
        return False
    groups = rule.get("apiGroups") or []
    if "*" not in groups and request.api_group not in groups:
        return False
    resources = rule.get("resources") or []
    if not any(r == "*" or r == request.resource or fnmatch.fnmatchcase(request.resource, r) for r in resources):
        return False
    names = rule.get("resourceNames")
    return not names


def uncovered(role: t.Mapping[str, t.Any], requests: t.Iterable[t.Any]) -> list[str]:
    """``METHOD path`` of each request no rule of ``role`` allows."""
    missing = []
    for request in requests:
        attrs = attributes(request.method, request.path, request.query)
        if not any(rule_allows(rule, attrs) for rule in role.get("rules") or []):
            missing.append(f"{request.method} {request.path} ({attrs.verb} {attrs.resource or attrs.path})")
    return missing
