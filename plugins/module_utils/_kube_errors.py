# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Kubernetes API errors and retries: exceptions that name the missing permission (``KubeForbidden``), the
mapping of an HTTP answer to one of them (``error_for_status``), and which answers are retried and how long to wait
(``RETRY_STATUSES``, ``retry_after_seconds``, ``backoff_seconds``).

Pure Python, no Ansible imports, no ``kubernetes`` import.
"""

from __future__ import annotations

import dataclasses
import email.utils
import json
import re
import time
import typing as t

RETRY_STATUSES = frozenset([429, 500, 502, 503, 504])


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class KubeAPIError(Exception):
    """An API request failed. ``status`` is the HTTP status (None when nothing was answered)."""

    def __init__(self, message: str, *, status: int | None = None, reason: str = "", method: str | None = None,
                 path: str | None = None, retry_after: float | None = None, body: t.Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason
        self.method = method
        self.path = path
        self.retry_after = retry_after
        self.body = body

    def __str__(self) -> str:
        return self.message


class KubeConfigError(KubeAPIError, ValueError):
    """Connection options or kubeconfig are unusable (no request was sent)."""


class KubeUnauthorized(KubeAPIError):
    """401: the credentials were rejected."""


class KubeForbidden(KubeAPIError):
    """403: ``verb``, ``group``, ``resource`` and ``namespace`` name the missing permission."""

    def __init__(self, message: str, *, verb: str = "", group: str | None = None, resource: str = "",
                 namespace: str | None = None, **kwargs: t.Any) -> None:
        super().__init__(message, **kwargs)
        self.verb = verb
        self.group = group
        self.resource = resource
        self.namespace = namespace

    @property
    def permission(self) -> dict[str, t.Any]:
        return {"verb": self.verb, "api_group": self.group, "resource": self.resource, "namespace": self.namespace}


class KubeNotFound(KubeAPIError):
    """404."""


class KubeConflict(KubeAPIError):
    """409: AlreadyExists on create, or a resourceVersion conflict on update/patch."""


class KubeUnavailable(KubeAPIError):
    """Connection errors, timeouts, 429 and 5xx that persisted through the bounded retries."""


class KubeDeadlineExceeded(KubeUnavailable):
    """The caller's overall deadline (a module's ``timeout``) passed, or a wait would pass it. ``status`` is None:
    the run must end, as when the server is unreachable."""


class KubePaginationError(KubeAPIError):
    """A list that does not end: a ``continue`` token came back a second time, or more pages than the object bound."""


class KubeMalformedAnswer(KubeAPIError):
    """A 2xx answer whose JSON does not have the shape of its kind (``items`` that is no list, ...)."""


# --------------------------------------------------------------------------------------------
# API paths
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ResourceRef:
    """What an API path addresses (used to name the permission in errors)."""

    group: str | None  # None for non-resource URLs such as /version or /apis
    version: str
    resource: str  # plural, with "/subresource" when present (pods/log)
    namespace: str | None
    name: str | None

    def verb(self, method: str, query: t.Mapping[str, t.Any] | None = None) -> str:
        method = method.upper()
        if self.group is None:
            return method.lower()
        if method == "GET":
            if self.name is None:
                return "watch" if query and str(query.get("watch", "")).lower() in ("1", "true") else "list"
            return "get"
        if method == "DELETE":
            return "delete" if self.name is not None else "deletecollection"
        return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())


_CORE_PREFIX = re.compile(r"^/api/(?P<version>[^/]+)(?P<rest>/.*)?$")
_GROUP_PREFIX = re.compile(r"^/apis/(?P<group>[^/]+)/(?P<version>[^/]+)(?P<rest>/.*)?$")
_NAMESPACE_SUBRESOURCES = ("status", "finalize")


def parse_api_path(path: str) -> ResourceRef:
    """Split ``/api/v1/namespaces/ns/pods/name/log`` style paths into their parts."""
    path = path.split("?", 1)[0]
    match = _CORE_PREFIX.match(path)
    group = ""
    if match is None:
        match = _GROUP_PREFIX.match(path)
        if match is None:
            return ResourceRef(None, "", path, None, None)
        group = match.group("group")
    version = match.group("version")
    parts = [p for p in (match.group("rest") or "").split("/") if p]
    if not parts:
        return ResourceRef(None, version, path, None, None)
    namespace = None
    if parts[0] == "namespaces" and len(parts) >= 3 and not (len(parts) == 3 and parts[2] in _NAMESPACE_SUBRESOURCES):
        namespace = parts[1]
        parts = parts[2:]
    resource = parts[0]
    name = parts[1] if len(parts) > 1 else None
    if len(parts) > 2:
        resource = resource + "/" + "/".join(parts[2:])
    return ResourceRef(group, version, resource, namespace, name)


def describe_resource(path: str) -> str:
    """``configmaps (API group "") in namespace "shop"`` for messages about a list."""
    ref = parse_api_path(path)
    if ref.group is None:
        return f'the URL "{ref.resource}"'
    where = f'in namespace "{ref.namespace}"' if ref.namespace else "at the cluster scope"
    return f'{ref.resource} (API group "{ref.group}") {where}'


def describe_permission(verb: str, ref: ResourceRef) -> str:
    if ref.group is None:
        return f'{verb} on the non-resource URL "{ref.resource}"'
    where = f'in namespace "{ref.namespace}"' if ref.namespace else "at the cluster scope"
    if ref.resource.startswith("namespaces") and ref.name and ref.namespace is None:
        where = "at the cluster scope"
    return f'{verb} {ref.resource} (API group "{ref.group}") {where}'


# --------------------------------------------------------------------------------------------
# Retries
# --------------------------------------------------------------------------------------------


def backoff_seconds(attempt: int, base: float, ceiling: float) -> float:
    """Exponential backoff before retry ``attempt + 1`` (no Retry-After header): base * 2^attempt, capped."""
    return min(base * (2 ** attempt), ceiling)


def retry_after_seconds(value: t.Any) -> float | None:
    if value in (None, ""):
        return None
    text = str(value).strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())


def header_value(headers: t.Any, name: str) -> t.Any:
    if not headers:
        return None
    getter = getattr(headers, "get", None)
    if getter is None:
        return None
    value = getter(name)
    if value is None:
        value = getter(name.lower())
    return value


def error_for_status(method: str, path: str, query: t.Mapping[str, t.Any] | None, status: int,
                     body: dict) -> KubeAPIError:
    """The exception for a non-retried error answer; 403 names the permission the request needed."""
    ref = parse_api_path(path)
    verb = ref.verb(method, query)
    server_message = str(body.get("message") or "").strip()
    reason = str(body.get("reason") or "")
    kwargs: dict[str, t.Any] = {"status": status, "reason": reason, "method": method, "path": path, "body": body}
    suffix = f": {server_message}" if server_message else ""
    if status == 401:
        return KubeUnauthorized(f"{method} {path}: the API server rejected the credentials (401 Unauthorized)"
                                f"{suffix}", **kwargs)
    if status == 403:
        return KubeForbidden(f"forbidden: missing permission to {describe_permission(verb, ref)}{suffix}",
                             verb=verb, group=ref.group, resource=ref.resource,
                             namespace=ref.namespace, **kwargs)
    if status == 404:
        return KubeNotFound(f"{method} {path}: not found{suffix}", **kwargs)
    if status == 409:
        return KubeConflict(f"{method} {path}: conflict ({reason or 'Conflict'}){suffix}", **kwargs)
    return KubeAPIError(f"{method} {path}: {status_text(status, body)}", **kwargs)


def status_body(data: bytes) -> dict:
    try:
        document = json.loads(data) if data else {}
    except ValueError:
        text = data.decode("utf-8", errors="replace").strip()
        return {"message": text[:300]} if text else {}
    return document if isinstance(document, dict) else {}


def status_text(status: int, body: t.Mapping[str, t.Any]) -> str:
    reason = str(body.get("reason") or "").strip()
    message = str(body.get("message") or "").strip()
    text = f"{status}{' ' + reason if reason else ''}"
    return f"{text}: {message}" if message else text


def transport_problem(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    inner = reason if isinstance(reason, BaseException) else exc
    text = str(inner) or type(inner).__name__
    name = type(inner).__name__
    if "timed out" in text.lower() or "Timeout" in name:
        return f"timed out ({text})"
    if "refused" in text.lower():
        return f"connection refused ({text})"
    return f"{name}: {text}"
