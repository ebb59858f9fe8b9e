# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A small Kubernetes API server on loopback for integration tests and benchmarks.

Real HTTP, real JSON, real status codes: the code under test uses the official ``kubernetes``
client against it exactly as against a cluster. What it serves:

- discovery: legacy (``/api``, ``/apis``, ``/api/v1``, ``/apis/<g>/<v>``) and aggregated
  (``APIGroupDiscoveryList``, when the Accept header asks and ``aggregated_discovery=True``);
- lists with ``limit``/``continue``/``metadata.remainingItemCount``, ``labelSelector``
  (``=``, ``==``, ``!=``, ``key``, ``!key``), ``fieldSelector`` (``metadata.name``,
  ``metadata.namespace``), metadata-only answers (``PartialObjectMetadataList``);
- get, create (409 AlreadyExists), PUT, JSON merge patch (``null`` removes a key; a stale
  ``metadata.resourceVersion`` gives 409), delete with ownerReference cascade, pod logs;
- bearer-token auth (401), ``forbid`` (403 with a Status body naming the permission) and
  ``inject`` (any status, ``Retry-After`` headers, delays, dropped connections);
- ``add_synthetic`` objects generated on the fly, so 300,000 objects cost a few dict entries;
- hostile and broken behaviours: ``repeat_continue`` (a list that hands back the continue token it was
  given, forever), ``break_type`` (every list of a type answers 500, as a CRD whose conversion webhook is
  down), ``put_raw`` (objects with wrong JSON types, stored as given), ``serve_metrics`` (metrics.k8s.io
  PodMetrics, optional like metrics-server).

Every request is recorded in ``server.requests``.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import hashlib
import json
import re
import threading
import time
import typing as t
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import yaml

CREATION_TIMESTAMP = "2024-01-01T00:00:00Z"
DEFAULT_TOKEN = "test-token"

_REASONS = {
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
    406: "NotAcceptable", 409: "Conflict", 410: "Expired", 415: "UnsupportedMediaType", 422: "Invalid",
    429: "TooManyRequests", 500: "InternalError", 502: "BadGateway", 503: "ServiceUnavailable", 504: "Timeout",
}
_PHRASES = {
    200: "OK", 201: "Created", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 406: "Not Acceptable", 409: "Conflict", 410: "Gone", 415: "Unsupported Media Type",
    422: "Unprocessable Entity", 429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout",
}
ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")

WriteCallback = t.Callable[[str, t.Optional[dict], t.Optional[dict]], t.Any]


@dataclasses.dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    status: int
    body: t.Any = None
    # Every value of a header sent more than once (Impersonate-Group), lower-case names.
    header_lists: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    # The request line's target as sent: absolute-form (http://host/...) when the client went through a proxy.
    target: str = ""

    @property
    def accept(self) -> str:
        return self.headers.get("accept", "")


@dataclasses.dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    verbs: tuple[str, ...]
    short_names: tuple[str, ...] = ()
    singular: str = ""
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> tuple[str, str]:
        return (self.group, self.plural)


@dataclasses.dataclass
class _Fault:
    method: str
    pattern: re.Pattern
    status: int
    remaining: int | None
    headers: dict[str, str]
    body: t.Any
    delay: float
    apply: bool = False


@dataclasses.dataclass(frozen=True)
class _Deny:
    verb: str
    group: str
    plural: str
    namespace: str | None


class _StopRequest(Exception):
    def __init__(self, status: int, body: t.Any, headers: dict[str, str] | None = None,
                 content_type: str = "application/json") -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.content_type = content_type


def status_body(code: int, message: str, reason: str | None = None, details: dict | None = None) -> dict:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason or _REASONS.get(code, ""), "code": code}
    if details:
        body["details"] = details
    return body


def merge_patch(target: t.Any, patch: t.Any) -> t.Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _parse_accept(header: str) -> list[dict[str, str]]:
    ranges = []
    for part in (header or "*/*").split(","):
        fields = [f.strip() for f in part.split(";") if f.strip()]
        if not fields:
            continue
        params = {"_type": fields[0].lower()}
        for field in fields[1:]:
            if "=" in field:
                k, v = field.split("=", 1)
                params[k.strip().lower()] = v.strip()
        ranges.append(params)
    return ranges


def _sort_name(obj: t.Any) -> str:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    return str(meta.get("name", "")) if isinstance(meta, dict) else ""


def _selector_matches(selector: str, labels: t.Mapping[str, str]) -> bool:
    for requirement in [r.strip() for r in selector.split(",") if r.strip()]:
        if "!=" in requirement:
            key, value = (s.strip() for s in requirement.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "==" in requirement or "=" in requirement:
            key, value = (s.strip() for s in re.split("==?", requirement, maxsplit=1))
            if labels.get(key) != value:
                return False
        elif requirement.startswith("!"):
            if requirement[1:].strip() in labels:
                return False
        elif requirement not in labels:
            return False
    return True


class KubeAPITestServer:
    """See the module docstring. Use as a context manager; ``url`` is ``http://127.0.0.1:<port>``."""

    def __init__(self, aggregated_discovery: bool = True, *, remaining_item_count: bool = True,
                 git_version: str = "v1.31.0", register_defaults: bool = True) -> None:
        self.aggregated_discovery = aggregated_discovery
        self.remaining_item_count = remaining_item_count
        self.git_version = git_version
        self.tokens: set[str] = {DEFAULT_TOKEN}
        # HTTP basic authentication: user -> password (none accepted unless a test adds one).
        self.basic_users: dict[str, str] = {}
        self.requests: list[RecordedRequest] = []
        self.callback_errors: list[str] = []
        self._lock = threading.RLock()
        self._types: dict[tuple[str, str], dict[str, ResourceType]] = {}  # (group, plural) -> version -> type
        self._group_versions: dict[str, list[str]] = {}  # preferred version first
        self._objects: dict[tuple[str, str], dict[tuple[str, str], dict]] = {}
        self._synthetic: dict[tuple[str, str], dict[str, tuple[int, dict | None]]] = {}
        self._logs: dict[tuple[str, str, str | None], str] = {}
        self._faults: list[_Fault] = []
        self._repeat_continue: list[re.Pattern] = []
        self._denies: list[_Deny] = []
        self._callbacks: list[WriteCallback] = []
        self._rv = 1
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        if register_defaults:
            self._register_defaults()

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> "KubeAPITestServer":
        if self._httpd is not None:
            return self
        handler = type("Handler", (_Handler,), {"api": self})
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        httpd.daemon_threads = True
        httpd.block_on_close = False  # keep-alive connections must not hold up stop()
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="kube-api-test-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> "KubeAPITestServer":
        return self.start()

    def __exit__(self, *exc_info: t.Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_kubeconfig(self, path: str | Path, token: str = DEFAULT_TOKEN, *, namespace: str = "default",
                         context: str = "loopback") -> Path:
        """Write a kubeconfig for this server; requests without this bearer token get 401."""
        self.tokens.add(token)
        document = {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": "loopback", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": {"token": token}}],
            "contexts": [{"name": context, "context": {"cluster": "loopback", "user": "tester",
                                                       "namespace": namespace}}],
            "current-context": context,
        }
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        return target

    # -- discovery registry -----------------------------------------------------------------------

    def register_resource(self, group: str, version: str, kind: str, plural: str, namespaced: bool = True,
                          verbs: t.Sequence[str] = ALL_VERBS, *, short_names: t.Sequence[str] = (),
                          singular: str | None = None, categories: t.Sequence[str] = (),
                          subresources: t.Sequence[str] = (), preferred: bool = False) -> ResourceType:
        rtype = ResourceType(group, version, kind, plural, namespaced, tuple(verbs), tuple(short_names),
                             singular or kind.lower(), tuple(categories), tuple(subresources))
        with self._lock:
            self._types.setdefault(rtype.key, {})[version] = rtype
            versions = self._group_versions.setdefault(group, [])
            if version not in versions:
                if preferred:
                    versions.insert(0, version)
                else:
                    versions.append(version)
            elif preferred:
                versions.remove(version)
                versions.insert(0, version)
            self._objects.setdefault(rtype.key, {})
        return rtype

    def _register_defaults(self) -> None:
        core = [
            ("Namespace", "namespaces", False, ("ns",), ("status", "finalize")),
            ("Pod", "pods", True, ("po",), ("log", "status", "exec", "eviction")),
            ("PersistentVolumeClaim", "persistentvolumeclaims", True, ("pvc",), ("status",)),
            ("PersistentVolume", "persistentvolumes", False, ("pv",), ("status",)),
            ("ConfigMap", "configmaps", True, ("cm",), ()),
            ("Secret", "secrets", True, (), ()),
            ("Service", "services", True, ("svc",), ("status",)),
            ("ServiceAccount", "serviceaccounts", True, ("sa",), ()),
            ("Event", "events", True, ("ev",), ()),
            ("Node", "nodes", False, ("no",), ("status",)),
            ("Endpoints", "endpoints", True, ("ep",), ()),
            ("LimitRange", "limitranges", True, ("limits",), ()),
            ("ResourceQuota", "resourcequotas", True, ("quota",), ("status",)),
            ("ReplicationController", "replicationcontrollers", True, ("rc",), ("status", "scale")),
            ("PodTemplate", "podtemplates", True, (), ()),
        ]
        for kind, plural, namespaced, short, subs in core:
            self.register_resource("", "v1", kind, plural, namespaced, short_names=short, subresources=subs)
        # Real clusters serve no create/delete on these: Velero's discovery filter drops them.
        self.register_resource("", "v1", "ComponentStatus", "componentstatuses", False, ("get", "list"),
                               short_names=("cs",))
        self.register_resource("", "v1", "Binding", "bindings", True, ("create",))
        apps = [("Deployment", "deployments", ("deploy",)), ("StatefulSet", "statefulsets", ("sts",)),
                ("DaemonSet", "daemonsets", ("ds",)), ("ReplicaSet", "replicasets", ("rs",)),
                ("ControllerRevision", "controllerrevisions", ())]
        for kind, plural, short in apps:
            subs = () if kind == "ControllerRevision" else ("status", "scale")
            self.register_resource("apps", "v1", kind, plural, True, short_names=short, subresources=subs)
        self.register_resource("batch", "v1", "Job", "jobs", True, subresources=("status",))
        self.register_resource("batch", "v1", "CronJob", "cronjobs", True, short_names=("cj",),
                               subresources=("status",))

    def register_velero_crds(self) -> None:
        """velero.io/v1 and velero.io/v2alpha1 kinds, as the Velero CRDs serve them."""
        v1 = ["Backup", "Restore", "Schedule", "BackupStorageLocation", "VolumeSnapshotLocation", "BackupRepository",
              "PodVolumeBackup", "PodVolumeRestore", "DeleteBackupRequest", "DownloadRequest", "ServerStatusRequest"]
        short = {"BackupStorageLocation": ("bsl",), "VolumeSnapshotLocation": ("vsl",)}
        plurals = {"BackupRepository": "backuprepositories"}
        for kind in v1:
            self.register_resource("velero.io", "v1", kind, plurals.get(kind, kind.lower() + "s"), True,
                                   short_names=short.get(kind, ()), categories=("velero",))
        for kind in ("DataUpload", "DataDownload"):
            self.register_resource("velero.io", "v2alpha1", kind, kind.lower() + "s", True, categories=("velero",))

    def resource_types(self) -> list[ResourceType]:
        with self._lock:
            return [rtype for versions in self._types.values() for rtype in versions.values()]

    def _type_for(self, api_version: str, kind: str) -> ResourceType:
        group, _slash, version = api_version.rpartition("/")
        with self._lock:
            for versions in self._types.values():
                rtype = versions.get(version)
                if rtype is not None and rtype.group == group and rtype.kind == kind:
                    return rtype
        raise KeyError(f"{api_version} {kind} is not registered (register_resource / register_velero_crds)")

    def _type_by_plural(self, group: str, version: str, plural: str) -> ResourceType | None:
        with self._lock:
            return (self._types.get((group, plural)) or {}).get(version)

    # -- faults -----------------------------------------------------------------------------------------

    def forbid(self, verb: str, group: str, plural: str, namespace: str | None = None) -> None:
        """403 for ``verb`` on ``plural`` (``pods/log`` for subresources; ``*`` matches any verb).

        With ``namespace`` the deny covers that namespace and cluster-wide requests of the type
        (as RBAC does: a cluster-wide list needs the permission in every namespace).
        """
        with self._lock:
            self._denies.append(_Deny(verb, group, plural, namespace))

    def inject(self, method: str, path_regex: str, status: int, *, times: int | None = 1,
               headers: t.Mapping[str, str] | None = None, body: t.Any = None, delay: float = 0.0,
               apply: bool = False) -> None:
        """Answer the next ``times`` matching requests (``None`` = all) with ``status``.

        ``method`` may be ``*``. ``status=0`` closes the connection without an answer; with
        ``apply=True`` the request is carried out first (a write takes effect) and only its answer is
        lost, as when a connection breaks after the API server committed the change.
        ``delay`` sleeps before answering (for client timeouts).
        """
        if apply and status != 0:
            raise ValueError("apply=True is a lost answer: use it with status=0")
        with self._lock:
            self._faults.append(_Fault(method.upper(), re.compile(path_regex), status, times,
                                       dict(headers or {}), body, delay, apply))

    def slow(self, method: str, path_regex: str, seconds: float, *, times: int | None = None) -> None:
        """Wait ``seconds`` before handling the next ``times`` matching requests (``None`` = all), then answer
        them normally from the state at that moment: a loaded API server, for ordering races."""
        with self._lock:
            self._faults.append(_Fault(method.upper(), re.compile(path_regex), -1, times, {}, None, seconds))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._denies.clear()
            self._repeat_continue.clear()

    # -- hostile and broken API servers -------------------------------------------------------------

    REPEATED_CONTINUE = "hostile-repeated-continue-token"

    def repeat_continue(self, path_regex: str) -> None:
        """Lists whose path matches never end: every page carries ``metadata.continue`` and a request with that
        token gets the first page again with the same token.

        kube-apiserver encodes the next key into every continue token (``storage/etcd3`` ``encodeContinue``), so
        a real server never repeats one; a broken aggregated API server or proxy can. This copies what issue 13
        observed: the same token, answered with the same page, 5,280 times.
        """
        with self._lock:
            self._repeat_continue.append(re.compile(path_regex))

    def _repeats(self, path: str) -> bool:
        with self._lock:
            return any(pattern.search(path) for pattern in self._repeat_continue)

    def break_type(self, group: str, plural: str, status: int = 500) -> None:
        """Every list and get of ``group``/``plural`` answers ``status``, as a CRD whose conversion webhook is
        down: kube-apiserver (apiextensions ``webhook_converter.go``) answers 500 InternalError "conversion
        webhook for <gvk> failed: ...", and retrying does not help."""
        with self._lock:
            versions = sorted((self._types.get((group, plural)) or {}).values(), key=lambda r: r.version)
        if not versions:
            raise KeyError(f"{plural}.{group} is not registered")
        rtype = versions[0]
        base = f"/apis/{group}/[^/]+" if group else "/api/v1"
        message = (f"Internal error occurred: conversion webhook for {rtype.api_version}, Kind={rtype.kind} failed: "
                   f'Post "https://webhook.{plural}.svc:443/convert?timeout=30s": dial tcp 10.96.0.42:443: connect: '
                   f"connection refused")
        self.inject("GET", f"^{base}(/namespaces/[^/]+)?/{re.escape(plural)}(/[^/]+)?$", status, times=None,
                    body=status_body(status, message, "InternalError" if status == 500 else None))

    def put_raw(self, api_version: str, kind: str, namespace: str | None, name: str, obj: t.Any) -> None:
        """Store ``obj`` exactly as given (wrong JSON types included) so lists return it unchanged."""
        rtype = self._type_for(api_version, kind)
        with self._lock:
            self._objects[rtype.key][self._store_key(rtype, namespace, name)] = copy.deepcopy(obj)

    def serve_metrics(self) -> None:
        """Serve ``metrics.k8s.io/v1beta1`` PodMetrics and NodeMetrics (get and list only, as metrics-server
        registers them); fill them with ``set_pod_metrics``."""
        self.register_resource("metrics.k8s.io", "v1beta1", "PodMetrics", "pods", True, ("get", "list"),
                               singular="podmetrics")
        self.register_resource("metrics.k8s.io", "v1beta1", "NodeMetrics", "nodes", False, ("get", "list"),
                               singular="nodemetrics")

    def set_pod_metrics(self, namespace: str, pod: str, memory: t.Mapping[str, str]) -> None:
        """metrics-server's answer for one pod: per container ``usage.memory`` (its working set)."""
        self.put({"apiVersion": "metrics.k8s.io/v1beta1", "kind": "PodMetrics",
                  "metadata": {"name": pod, "namespace": namespace}, "timestamp": CREATION_TIMESTAMP,
                  "window": "15.012s",
                  "containers": [{"name": name, "usage": {"cpu": "12m", "memory": value}}
                                 for name, value in memory.items()]})

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    def requests_matching(self, method: str | None = None, path_regex: str | None = None) -> list[RecordedRequest]:
        pattern = re.compile(path_regex) if path_regex else None
        with self._lock:
            return [r for r in self.requests if (method is None or r.method == method.upper())
                    and (pattern is None or pattern.search(r.path))]

    def on_write(self, callback: WriteCallback) -> None:
        """``callback(verb, obj_after, obj_before)`` after every create/update/patch/delete over HTTP.

        Runs in the request's thread before the answer is sent, so a simulated controller's
        reaction is visible to the client's next request. Exceptions are kept in ``callback_errors``.
        """
        with self._lock:
            self._callbacks.append(callback)

    # -- object store -------------------------------------------------------------------------------

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _prepare(self, rtype: ResourceType, obj: dict, namespace: str | None) -> dict:
        obj = copy.deepcopy(obj)
        obj["apiVersion"] = rtype.api_version
        obj["kind"] = rtype.kind
        meta = obj.setdefault("metadata", {})
        if rtype.namespaced:
            meta["namespace"] = namespace or meta.get("namespace") or "default"
        else:
            meta.pop("namespace", None)
        if not meta.get("name"):
            if meta.get("generateName"):
                meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
            else:
                raise ValueError("metadata.name or metadata.generateName is required")
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        meta.setdefault("generation", 1)
        if rtype.kind == "Namespace":
            obj.setdefault("status", {}).setdefault("phase", "Active")
        return obj

    def put(self, obj: t.Mapping[str, t.Any]) -> dict:
        """Store (create or replace) an object directly; no callbacks fire. Returns a copy."""
        rtype = self._type_for(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
        with self._lock:
            stored = self._prepare(rtype, dict(obj), (obj.get("metadata") or {}).get("namespace"))
            meta = stored["metadata"]
            key = (meta.get("namespace", ""), meta["name"])
            previous = self._objects[rtype.key].get(key)
            if previous is not None and "uid" not in (obj.get("metadata") or {}):
                meta["uid"] = previous["metadata"]["uid"]
            meta["resourceVersion"] = self._next_rv()
            self._objects[rtype.key][key] = stored
            return copy.deepcopy(stored)

    def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> dict | None:
        rtype = self._type_for(api_version, kind)
        with self._lock:
            found = self._objects[rtype.key].get(self._store_key(rtype, namespace, name))
            return copy.deepcopy(found) if found is not None else None

    def objects(self, api_version: str, kind: str, namespace: str | None = None) -> list[dict]:
        """Stored objects of a kind (synthetic ones excluded), sorted by namespace and name."""
        rtype = self._type_for(api_version, kind)
        with self._lock:
            items = [copy.deepcopy(o) for (ns, _name), o in sorted(self._objects[rtype.key].items())
                     if namespace is None or ns == namespace]
        for item in items:
            item["apiVersion"] = api_version
        return items

    def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> bool:
        rtype = self._type_for(api_version, kind)
        with self._lock:
            return self._objects[rtype.key].pop(self._store_key(rtype, namespace, name), None) is not None

    def add_synthetic(self, api_version: str, kind: str, namespace: str | t.Sequence[str] | None, count: int, *,
                      template: t.Mapping[str, t.Any] | None = None) -> None:
        """``count`` generated objects (per namespace when a list is given), built only when listed."""
        rtype = self._type_for(api_version, kind)
        namespaces = [namespace] if namespace is None or isinstance(namespace, str) else list(namespace)
        with self._lock:
            table = self._synthetic.setdefault(rtype.key, {})
            for ns in namespaces:
                ns_key = (ns or "") if rtype.namespaced else ""
                previous = table.get(ns_key, (0, None))[0]
                table[ns_key] = (previous + int(count), dict(template) if template else None)

    def count(self, api_version: str, kind: str, namespace: str | None = None) -> int:
        """Stored plus synthetic objects of a kind (in one namespace, or all)."""
        rtype = self._type_for(api_version, kind)
        with self._lock:
            real = sum(1 for (ns, _name) in self._objects[rtype.key] if namespace is None or ns == namespace)
            synthetic = sum(count for ns, (count, _template) in self._synthetic.get(rtype.key, {}).items()
                            if namespace is None or ns == namespace)
        return real + synthetic

    def set_pod_log(self, namespace: str, name: str, text: str, container: str | None = None) -> None:
        with self._lock:
            self._logs[(namespace, name, container)] = text

    # -- request handling -------------------------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.method not in ("*", method) or not fault.pattern.search(path):
                    continue
                if fault.remaining is not None:
                    if fault.remaining <= 0:
                        continue
                    fault.remaining -= 1
                return fault
        return None

    def _denied(self, verb: str, group: str, plural: str, namespace: str | None) -> bool:
        with self._lock:
            for deny in self._denies:
                if deny.verb not in ("*", verb) or deny.group != group or deny.plural != plural:
                    continue
                if deny.namespace is None or namespace is None or deny.namespace == namespace:
                    return True
        return False

    def _notify(self, verb: str, after: dict | None, before: dict | None) -> None:
        with self._lock:
            callbacks = list(self._callbacks)
        for callback in callbacks:
            try:
                callback(verb, copy.deepcopy(after), copy.deepcopy(before))
            except Exception as exc:  # a broken simulator must not break the server
                self.callback_errors.append(f"{verb}: {type(exc).__name__}: {exc}")

    # discovery documents --------------------------------------------------------------------------------

    def _preferred_types(self, group: str) -> list[ResourceType]:
        versions = self._group_versions.get(group, [])
        return [rtype for v in versions for (g, _plural), by_version in self._types.items()
                if g == group for ver, rtype in by_version.items() if ver == v]

    def _resource_list(self, group: str, version: str) -> dict:
        resources = []
        for (g, _plural), by_version in self._types.items():
            rtype = by_version.get(version)
            if g != group or rtype is None:
                continue
            entry = {"name": rtype.plural, "singularName": rtype.singular, "namespaced": rtype.namespaced,
                     "kind": rtype.kind, "verbs": list(rtype.verbs)}
            if rtype.short_names:
                entry["shortNames"] = list(rtype.short_names)
            if rtype.categories:
                entry["categories"] = list(rtype.categories)
            resources.append(entry)
            for sub in rtype.subresources:
                resources.append({"name": f"{rtype.plural}/{sub}", "singularName": "", "namespaced": rtype.namespaced,
                                  "kind": "Pod" if sub == "log" else rtype.kind,
                                  "verbs": ["get"] if sub == "log" else ["get", "patch", "update"]})
        return {"kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": f"{group}/{version}" if group else version, "resources": resources}

    def _aggregated(self, core: bool) -> dict:
        items = []
        groups = [""] if core else [g for g in self._group_versions if g]
        for group in groups:
            versions = []
            for version in self._group_versions.get(group, []):
                resources = []
                for (g, _plural), by_version in self._types.items():
                    rtype = by_version.get(version)
                    if g != group or rtype is None:
                        continue
                    entry = {"resource": rtype.plural, "singularResource": rtype.singular,
                             "scope": "Namespaced" if rtype.namespaced else "Cluster",
                             "responseKind": {"group": group, "version": version, "kind": rtype.kind},
                             "verbs": list(rtype.verbs)}
                    if rtype.short_names:
                        entry["shortNames"] = list(rtype.short_names)
                    if rtype.categories:
                        entry["categories"] = list(rtype.categories)
                    if rtype.subresources:
                        entry["subresources"] = [
                            {"subresource": sub, "responseKind": {"group": "", "version": "v1", "kind": "Pod"}
                             if sub == "log" else {"group": group, "version": version, "kind": rtype.kind},
                             "verbs": ["get"] if sub == "log" else ["get", "patch", "update"]}
                            for sub in rtype.subresources]
                    resources.append(entry)
                versions.append({"version": version, "resources": resources, "freshness": "Current"})
            items.append({"metadata": {"name": group, "creationTimestamp": None}, "versions": versions})
        return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {},
                "items": items}

    def _group_list(self) -> dict:
        groups = []
        for group, versions in self._group_versions.items():
            if not group:
                continue
            gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
            groups.append({"name": group, "versions": gvs, "preferredVersion": gvs[0]})
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    # list machinery -----------------------------------------------------------------------------------

    def _synthetic_item(self, rtype: ResourceType, namespace: str, index: int, template: dict | None) -> dict:
        name = f"{rtype.singular}-synthetic-{index:07d}"
        digest = hashlib.sha1(f"{rtype.group}/{rtype.plural}/{namespace}/{name}".encode()).hexdigest()
        meta: dict[str, t.Any] = {"name": name, "uid": f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-"
                                  f"{digest[16:20]}-{digest[20:32]}", "resourceVersion": "1",
                                  "creationTimestamp": CREATION_TIMESTAMP,
                                  "labels": {"app.kubernetes.io/name": "synthetic"}}
        if rtype.namespaced:
            meta["namespace"] = namespace
        obj: dict[str, t.Any] = {"apiVersion": rtype.api_version, "kind": rtype.kind, "metadata": meta}
        if rtype.kind == "Namespace":
            obj["status"] = {"phase": "Active"}
        if template:
            obj = merge_patch(obj, template)
        return obj

    def _segments(self, rtype: ResourceType, namespace: str | None) -> list[tuple[str, list[dict], int, dict | None]]:
        real = self._objects.get(rtype.key, {})
        synthetic = self._synthetic.get(rtype.key, {})
        by_ns: dict[str, list[dict]] = {}
        for (ns, _name), obj in real.items():
            if namespace is None or ns == namespace:
                by_ns.setdefault(ns, []).append(obj)
        names = set(by_ns) | {ns for ns in synthetic if namespace is None or ns == namespace}
        segments = []
        for ns in sorted(names):
            objects = sorted(by_ns.get(ns, []), key=_sort_name)
            count, template = synthetic.get(ns, (0, None))
            segments.append((ns, objects, count, template))
        return segments

    def _slice(self, rtype: ResourceType, segments: list, start: int, limit: int | None) -> tuple[list[dict], int]:
        items: list[dict] = []
        total = sum(len(segment[1]) + segment[2] for segment in segments)
        position = 0
        for ns, objects, count, template in segments:
            size = len(objects) + count
            if position + size <= start:
                position += size
                continue
            for index in range(max(0, start - position), size):
                if limit is not None and len(items) >= limit:
                    return items, total
                if index < len(objects):
                    items.append(copy.deepcopy(objects[index]))
                else:
                    items.append(self._synthetic_item(rtype, ns, index - len(objects), template))
            position += size
        return items, total

    def list_objects(self, rtype: ResourceType, namespace: str | None, query: dict[str, str]) -> dict:
        limit_text = query.get("limit")
        try:
            limit = int(limit_text) if limit_text else None
        except ValueError:
            raise _StopRequest(400, status_body(400, f"invalid limit {limit_text!r}")) from None
        if limit is not None and limit <= 0:
            limit = None
        label_selector = query.get("labelSelector") or ""
        field_selector = query.get("fieldSelector") or ""
        field_filters: list[tuple[str, str, bool]] = []
        for requirement in [r.strip() for r in field_selector.split(",") if r.strip()]:
            negate = "!=" in requirement
            key, value = (s.strip() for s in re.split("!=|==?", requirement, maxsplit=1))
            if key not in ("metadata.name", "metadata.namespace"):
                raise _StopRequest(400, status_body(
                    400, f'field label not supported: {key}', "BadRequest"))
            field_filters.append((key, value, negate))
        start = 0
        token = query.get("continue")
        list_rv = str(self._rv)
        if token:
            try:
                decoded = json.loads(base64.urlsafe_b64decode(token.encode()).decode())
                start = int(decoded["start"])
                list_rv = str(decoded["rv"])
            except (ValueError, KeyError, TypeError):
                raise _StopRequest(400, status_body(400, "continue key is not valid", "BadRequest")) from None
        with self._lock:
            segments = self._segments(rtype, namespace)
            if label_selector or field_filters:
                matched = []
                everything = self._slice(rtype, segments, 0, None)[0]
                for obj in everything:
                    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
                    if label_selector and not _selector_matches(label_selector, meta.get("labels") or {}):
                        continue
                    if any((str(meta.get(key.split(".", 1)[1], "")) == value) == negate
                           for key, value, negate in field_filters):
                        continue
                    matched.append(obj)
                items = matched[start:start + limit] if limit else matched[start:]
                total = len(matched)
            else:
                items, total = self._slice(rtype, segments, start, limit)
        end = start + len(items)
        metadata: dict[str, t.Any] = {"resourceVersion": list_rv}
        if limit is not None and end < total:
            metadata["continue"] = base64.urlsafe_b64encode(
                json.dumps({"start": end, "rv": list_rv}).encode()).decode()
            # Like kube-apiserver: an exact count only when nothing was filtered out.
            if self.remaining_item_count and not (label_selector or field_filters):
                metadata["remainingItemCount"] = total - end
        for item in items:
            item["apiVersion"] = rtype.api_version
        return {"kind": f"{rtype.kind}List", "apiVersion": rtype.api_version, "metadata": metadata, "items": items}

    # writes ----------------------------------------------------------------------------------------

    def _store_key(self, rtype: ResourceType, namespace: str | None, name: str) -> tuple[str, str]:
        return ((namespace or "") if rtype.namespaced else "", name)

    def create_object(self, rtype: ResourceType, namespace: str | None, body: dict) -> dict:
        meta = body.get("metadata") or {}
        if rtype.namespaced and meta.get("namespace") and namespace and meta["namespace"] != namespace:
            raise _StopRequest(400, status_body(400, "the namespace of the provided object does not match the "
                                                "namespace sent on the request"))
        with self._lock:
            try:
                stored = self._prepare(rtype, body, namespace)
            except ValueError as exc:
                raise _StopRequest(422, status_body(422, str(exc), "Invalid")) from None
            stored["metadata"].pop("resourceVersion", None)
            stored["metadata"]["uid"] = str(uuid.uuid4())
            key = self._store_key(rtype, stored["metadata"].get("namespace"), stored["metadata"]["name"])
            if key in self._objects[rtype.key]:
                raise _StopRequest(409, status_body(
                    409, f'{rtype.plural}{"." + rtype.group if rtype.group else ""} "{key[1]}" already exists',
                    "AlreadyExists", {"name": key[1], "group": rtype.group, "kind": rtype.plural}))
            stored["metadata"]["resourceVersion"] = self._next_rv()
            self._objects[rtype.key][key] = stored
            result = copy.deepcopy(stored)
        result["apiVersion"] = rtype.api_version
        self._notify("create", result, None)
        return result

    def _existing(self, rtype: ResourceType, namespace: str | None, name: str) -> dict:
        found = self._objects[rtype.key].get(self._store_key(rtype, namespace, name))
        if found is None:
            raise _StopRequest(404, status_body(
                404, f'{rtype.plural}{"." + rtype.group if rtype.group else ""} "{name}" not found', "NotFound",
                {"name": name, "group": rtype.group, "kind": rtype.plural}))
        return found

    def _conflict(self, rtype: ResourceType, name: str) -> _StopRequest:
        return _StopRequest(409, status_body(
            409, f'Operation cannot be fulfilled on {rtype.plural}{"." + rtype.group if rtype.group else ""} '
                 f'"{name}": the object has been modified; please apply your changes to the latest version '
                 "and try again", "Conflict", {"name": name, "group": rtype.group, "kind": rtype.plural}))

    def _replace(self, rtype: ResourceType, namespace: str | None, name: str, new: dict,
                 status_only: bool) -> tuple[dict, dict]:
        """Store ``new`` in place of the existing object; the caller holds the lock and notifies."""
        before = self._existing(rtype, namespace, name)
        if status_only:
            new = dict(copy.deepcopy(before), status=new.get("status"))
        meta = new.setdefault("metadata", {})
        meta["name"] = name
        if rtype.namespaced:
            meta["namespace"] = namespace or ""
        for immutable in ("uid", "creationTimestamp"):
            meta[immutable] = before["metadata"].get(immutable)
        meta["generation"] = before["metadata"].get("generation", 1) + (0 if status_only else 1)
        new["apiVersion"], new["kind"] = rtype.api_version, rtype.kind
        meta["resourceVersion"] = self._next_rv()
        self._objects[rtype.key][self._store_key(rtype, namespace, name)] = new
        return copy.deepcopy(new), copy.deepcopy(before)

    def update_object(self, rtype: ResourceType, namespace: str | None, name: str, body: dict,
                      status_only: bool = False) -> dict:
        with self._lock:
            before = self._existing(rtype, namespace, name)
            sent_rv = (body.get("metadata") or {}).get("resourceVersion")
            if sent_rv and str(sent_rv) != before["metadata"]["resourceVersion"]:
                raise self._conflict(rtype, name)
            after, previous = self._replace(rtype, namespace, name, copy.deepcopy(body), status_only)
        self._notify("update", after, previous)
        return after

    def patch_object(self, rtype: ResourceType, namespace: str | None, name: str, patch: t.Any,
                     status_only: bool = False) -> dict:
        if not isinstance(patch, dict):
            raise _StopRequest(400, status_body(400, "a merge patch must be a JSON object"))
        with self._lock:
            before = self._existing(rtype, namespace, name)
            sent_rv = (patch.get("metadata") or {}).get("resourceVersion")
            if sent_rv and str(sent_rv) != before["metadata"]["resourceVersion"]:
                raise self._conflict(rtype, name)
            if status_only:
                patch = {"status": patch.get("status")} if "status" in patch else {}
            merged = merge_patch(before, patch)
            after, previous = self._replace(rtype, namespace, name, merged, False)
        self._notify("patch", after, previous)
        return after

    def delete_object(self, rtype: ResourceType, namespace: str | None, name: str, policy: str | None) -> dict:
        with self._lock:
            before = self._existing(rtype, namespace, name)
            del self._objects[rtype.key][self._store_key(rtype, namespace, name)]
            removed = [(copy.deepcopy(before))]
            if (policy or "Background") != "Orphan":
                removed += self._cascade(before["metadata"].get("uid"))
        for obj in removed:
            self._notify("delete", None, obj)
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "details": {"name": name, "group": rtype.group, "kind": rtype.plural,
                            "uid": before["metadata"].get("uid")}}

    def _cascade(self, uid: str | None) -> list[dict]:
        if not uid:
            return []
        removed: list[dict] = []
        for store in self._objects.values():
            for key, obj in list(store.items()):
                owners = (obj.get("metadata") or {}).get("ownerReferences") or []
                if any(owner.get("uid") == uid for owner in owners):
                    del store[key]
                    removed.append(copy.deepcopy(obj))
                    removed += self._cascade(obj["metadata"].get("uid"))
        return removed


# ------------------------------------------------------------------------------------------------------
# HTTP
# ------------------------------------------------------------------------------------------------------

_CORE_RE = re.compile(r"^/api/(?P<version>[^/]+)(?P<rest>/.*)?$")
_GROUP_RE = re.compile(r"^/apis/(?P<group>[^/]+)/(?P<version>[^/]+)(?P<rest>/.*)?$")
_GROUP_ONLY_RE = re.compile(r"^/apis/(?P<group>[^/]+)/?$")


class _Handler(BaseHTTPRequestHandler):
    api: KubeAPITestServer
    protocol_version = "HTTP/1.1"
    server_version = "kube-api-test-server"

    def log_message(self, format: str, *args: t.Any) -> None:  # noqa: A002 - BaseHTTPRequestHandler's name
        return

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # ---------------------------------------------------------------------------------------------------

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        path = split.path.rstrip("/") or "/"
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length else b""
        body: t.Any = None
        if raw_body:
            try:
                body = json.loads(raw_body)
            except ValueError:
                body = raw_body.decode("utf-8", errors="replace")
        # Recorded before the answer is written, so a client never sees an answer whose request is
        # not yet in ``server.requests``.
        lists: dict[str, list[str]] = {}
        for key in {k.lower() for k in self.headers.keys()}:
            values = self.headers.get_all(key) or []
            if len(values) > 1:
                lists[key] = list(values)
        self._pending: RecordedRequest | None = RecordedRequest(method, path, query, headers, 0, body, lists,
                                                                self.path)
        try:
            self._handle(method, path, query, headers, body)
        finally:
            self._record_once(500)

    def _record_once(self, status: int) -> None:
        pending = self._pending
        if pending is not None:
            self._pending = None
            self.api._record(dataclasses.replace(pending, status=status))

    def _send(self, status: int, payload: t.Any, content_type: str = "application/json",
              extra_headers: t.Mapping[str, str] | None = None) -> int:
        data = payload if isinstance(payload, bytes) else (
            payload.encode() if isinstance(payload, str) else json.dumps(payload).encode())
        self._record_once(status)
        try:
            self.send_response(status, _PHRASES.get(status))
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for key, value in (extra_headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            self.close_connection = True
        return status

    def _handle(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: t.Any) -> int:
        api = self.api
        auth = headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        authorized = token in api.tokens
        if auth.lower().startswith("basic "):
            user, _colon, password = base64.b64decode(auth[6:].strip()).decode("utf-8", "replace").partition(":")
            authorized = bool(user) and api.basic_users.get(user) == password
        if not authorized:
            return self._send(401, status_body(401, "Unauthorized"))
        fault = api._take_fault(method, path)
        if fault is not None and fault.status == -1:  # slow(): late, then a normal answer
            time.sleep(fault.delay)
            fault = None
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.status == 0:
                if fault.apply:
                    try:
                        self._route(method, path, query, headers, body)
                    except _StopRequest:
                        pass  # the request failed on the server; its answer is lost all the same
                self._record_once(0)
                self.close_connection = True
                return 0
            payload = fault.body if fault.body is not None else status_body(
                fault.status, f"injected {fault.status} for {method} {path}")
            return self._send(fault.status, payload, extra_headers=fault.headers)
        try:
            status, payload, content_type, extra = self._route(method, path, query, headers, body)
        except _StopRequest as stop:
            return self._send(stop.status, stop.body, stop.content_type, stop.headers)
        return self._send(status, payload, content_type, extra)

    def _route(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
               body: t.Any) -> tuple[int, t.Any, str, dict[str, str]]:
        api = self.api
        accept = _parse_accept(headers.get("accept", "*/*"))
        if path in ("/healthz", "/readyz", "/livez"):
            return 200, "ok", "text/plain", {}
        if path == "/version":
            self._check(method, "get", None, path, None)
            major, minor = (api.git_version.lstrip("v").split(".") + ["0"])[:2]
            return 200, {"major": major, "minor": minor, "gitVersion": api.git_version, "platform": "linux/amd64"}, \
                "application/json", {}
        if path in ("/api", "/apis"):
            self._check(method, "get", None, path, None)
            with api._lock:
                if api.aggregated_discovery and any(
                        r.get("as") == "APIGroupDiscoveryList" and r.get("g") == "apidiscovery.k8s.io"
                        and r.get("v") in ("v2", "v2beta1") for r in accept):
                    version = next(r["v"] for r in accept if r.get("as") == "APIGroupDiscoveryList"
                                   and r.get("v") in ("v2", "v2beta1"))
                    document = api._aggregated(core=path == "/api")
                    document["apiVersion"] = f"apidiscovery.k8s.io/{version}"
                    return 200, document, \
                        f"application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList", {}
                self._plain_json_or_406(accept)
                if path == "/api":
                    return 200, {"kind": "APIVersions", "versions": list(api._group_versions.get("", ["v1"])),
                                 "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                                 "serverAddress": "127.0.0.1"}]}, \
                        "application/json", {}
                return 200, api._group_list(), "application/json", {}
        match = _GROUP_ONLY_RE.match(path)
        if match:
            self._check(method, "get", None, path, None)
            group = match.group("group")
            with api._lock:
                versions = api._group_versions.get(group)
                if not versions:
                    raise _StopRequest(404, status_body(404, "the server could not find the requested resource"))
                gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
            return 200, {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": gvs,
                         "preferredVersion": gvs[0]}, "application/json", {}
        match = _CORE_RE.match(path)
        group = ""
        if match is None:
            match = _GROUP_RE.match(path)
            if match is None:
                raise _StopRequest(404, status_body(404, "the server could not find the requested resource"))
            group = match.group("group")
        version = match.group("version")
        with api._lock:
            known_version = version in api._group_versions.get(group, [])
        if not known_version:
            raise _StopRequest(404, status_body(404, "the server could not find the requested resource"))
        parts = [p for p in (match.group("rest") or "").split("/") if p]
        if not parts:
            self._check(method, "get", None, path, None)
            with api._lock:
                return 200, api._resource_list(group, version), "application/json", {}
        return self._resource(method, group, version, parts, query, accept, body, headers)

    def _plain_json_or_406(self, accept: list[dict[str, str]]) -> None:
        if not any(r["_type"] in ("application/json", "*/*", "application/*") and "as" not in r for r in accept):
            raise _StopRequest(406, status_body(406, "only the following media types are accepted: application/json"))

    def _check(self, method: str, verb: str, rtype: ResourceType | None, plural: str, namespace: str | None,
               group: str = "") -> None:
        api = self.api
        if rtype is not None:
            if verb.split("/")[0] not in rtype.verbs and "/" not in plural:
                raise _StopRequest(405, status_body(405, f"{verb} is not supported on {rtype.plural}",
                                                    "MethodNotAllowed"))
            group = rtype.group
        if api._denied(verb, group, plural, namespace):
            scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
            resource_word = "resource" if rtype is not None else "path"
            message = (f'{plural} is forbidden: User "system:serviceaccount:test:tester" cannot {verb} '
                       f'{resource_word} "{plural}" in API group "{group}" {scope}')
            raise _StopRequest(403, status_body(403, message, "Forbidden", {"group": group, "kind": plural}))

    def _resource(self, method: str, group: str, version: str, parts: list[str], query: dict[str, str],
                  accept: list[dict[str, str]], body: t.Any, headers: dict[str, str]) -> tuple[int, t.Any, str, dict]:
        api = self.api
        namespace: str | None = None
        if parts[0] == "namespaces" and len(parts) >= 3:
            candidate = api._type_by_plural(group, version, parts[2])
            if candidate is not None and candidate.namespaced:
                namespace = parts[1]
                parts = parts[2:]
        rtype = api._type_by_plural(group, version, parts[0])
        if rtype is None or (namespace is not None and not rtype.namespaced):
            raise _StopRequest(404, status_body(404, "the server could not find the requested resource"))
        name = parts[1] if len(parts) > 1 else None
        sub = "/".join(parts[2:]) if len(parts) > 2 else None
        if sub is not None and sub not in rtype.subresources:
            raise _StopRequest(404, status_body(404, "the server could not find the requested resource"))
        plural = f"{rtype.plural}/{sub}" if sub else rtype.plural
        if name is None:
            if method == "GET":
                verb = "watch" if query.get("watch") in ("1", "true") else "list"
            elif method == "POST":
                verb = "create"
            elif method == "DELETE":
                verb = "deletecollection"
            else:
                raise _StopRequest(405, status_body(405, f"{method} is not supported on a collection"))
        else:
            verb = {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method, "")
            if not verb:
                raise _StopRequest(405, status_body(405, f"{method} is not supported on an object"))
        self._check(method, verb, rtype, plural, namespace)
        if sub == "log":
            return self._pod_log(namespace, name or "", query)
        if verb == "watch":
            raise _StopRequest(405, status_body(405, "watch is not supported by this test server"))
        if verb == "list":
            if rtype.namespaced is False and namespace:
                raise _StopRequest(404, status_body(404, "the server could not find the requested resource"))
            metadata_only = self._wants_metadata(accept, "PartialObjectMetadataList")
            hostile = api._repeats(self.path.split("?", 1)[0])
            if hostile and query.get("continue") == api.REPEATED_CONTINUE:
                query = {k: v for k, v in query.items() if k != "continue"}  # the first page, again
            with api._lock:
                document = api.list_objects(rtype, namespace, query)
            if hostile:
                document["metadata"]["continue"] = api.REPEATED_CONTINUE
            if metadata_only:
                document = {"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                            "metadata": document["metadata"],
                            "items": [{"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                       "metadata": item.get("metadata", {})} for item in document["items"]]}
                return 200, document, "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1", {}
            return 200, document, "application/json", {}
        if verb == "get":
            with api._lock:
                obj = copy.deepcopy(api._existing(rtype, namespace, name or ""))
            obj["apiVersion"] = rtype.api_version
            if self._wants_metadata(accept, "PartialObjectMetadata"):
                return 200, {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": obj.get("metadata", {})}, \
                    "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1", {}
            return 200, obj, "application/json", {}
        if verb == "create":
            if not isinstance(body, dict):
                raise _StopRequest(400, status_body(400, "the request body must be a JSON object"))
            return 201, api.create_object(rtype, namespace, body), "application/json", {}
        if verb == "update":
            if not isinstance(body, dict):
                raise _StopRequest(400, status_body(400, "the request body must be a JSON object"))
            return 200, api.update_object(rtype, namespace, name or "", body, sub == "status"), "application/json", {}
        if verb == "patch":
            content_type = headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type not in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
                raise _StopRequest(415, status_body(
                    415, f"the body of the request was in an unknown format - accepted media types include: "
                         f"application/merge-patch+json, application/strategic-merge-patch+json (got "
                         f"{content_type or 'none'})"))
            return 200, api.patch_object(rtype, namespace, name or "", body, sub == "status"), "application/json", {}
        if verb == "delete":
            policy = query.get("propagationPolicy") or (body.get("propagationPolicy") if isinstance(body, dict) else None)
            return 200, api.delete_object(rtype, namespace, name or "", policy), "application/json", {}
        if verb == "deletecollection":
            selector = query.get("labelSelector") or ""
            with api._lock:
                doomed = [obj["metadata"]["name"] for (ns, _name), obj in api._objects[rtype.key].items()
                          if (namespace is None or ns == namespace)
                          and _selector_matches(selector, obj["metadata"].get("labels") or {})]
            for victim in doomed:
                api.delete_object(rtype, namespace, victim, query.get("propagationPolicy"))
            return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}, \
                "application/json", {}
        raise _StopRequest(405, status_body(405, f"{verb} is not supported"))

    @staticmethod
    def _wants_metadata(accept: list[dict[str, str]], as_kind: str) -> bool:
        for media in accept:
            if media.get("as") == as_kind and media.get("g") == "meta.k8s.io":
                return True
            if "as" not in media and media["_type"] in ("application/json", "*/*", "application/*"):
                return False
        return False

    def _pod_log(self, namespace: str | None, name: str, query: dict[str, str]) -> tuple[int, t.Any, str, dict]:
        api = self.api
        with api._lock:
            container = query.get("container") or None
            text = api._logs.get((namespace or "", name, container))
            if text is None:
                text = api._logs.get((namespace or "", name, None))
            pod_exists = (namespace or "", name) in api._objects.get(("", "pods"), {})
        if text is None:
            if not pod_exists:
                raise _StopRequest(404, status_body(404, f'pods "{name}" not found', "NotFound",
                                                    {"name": name, "kind": "pods"}))
            text = ""
        tail = query.get("tailLines")
        if tail:
            lines = text.splitlines(keepends=True)
            text = "".join(lines[-int(tail):]) if int(tail) > 0 else ""
        return 200, text, "text/plain", {}
