# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One small Kubernetes API client shared by ``cluster_facts`` and ``repo_maintenance``.

Transport, kubeconfig loading, TLS, client certificates, proxies and token refresh all come
from the official ``kubernetes`` client (``Configuration`` + ``ApiClient``); this file only adds
what the modules need on top: connection options named as in kubernetes.core (``ConnectionOptions``) and a
client for raw API paths (``KubeClient``) with bounded retries that honour ``Retry-After``, metadata-only paging
and discovery. Errors and the retry rules are in ``_kube_errors``, discovery documents are read by
``_kube_discovery``.

No Ansible imports. ``kubernetes`` is imported guarded: check ``HAS_KUBERNETES`` first.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import time
import traceback
import typing as t
from urllib.parse import urlencode

from . import _kube_tempfiles
from ._kube_discovery import APIResource, aggregated_versions, parse_resource_list, preferred_resources
from ._kube_errors import (
    RETRY_STATUSES,
    KubeAPIError,
    KubeConfigError,
    KubeDeadlineExceeded,
    KubeForbidden,
    KubeMalformedAnswer,
    KubePaginationError,
    KubeUnauthorized,
    KubeUnavailable,
    backoff_seconds,
    describe_resource,
    error_for_status,
    header_value,
    retry_after_seconds,
    status_body,
    status_text,
    transport_problem,
)
from ._secrets import redact_url  # a server URL from a kubeconfig file may carry user:password@

try:
    import urllib3
    from kubernetes import client as _k8s_client
    from kubernetes import config as _k8s_config
    from kubernetes.config import incluster_config as _k8s_incluster
    from kubernetes.client.exceptions import ApiException as _ApiException
except ImportError:  # the module reports missing_required_lib from KUBERNETES_IMPORT_ERROR
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR: t.Optional[str] = traceback.format_exc()
else:
    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR = None

ACCEPT_JSON = "application/json"
# Same negotiation as client-go: ask for the cheap form, fall back to plain JSON when not served.
ACCEPT_METADATA_LIST = "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json"
ACCEPT_METADATA = "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io,application/json"
ACCEPT_AGGREGATED_DISCOVERY = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
    "application/json"
)
CONTENT_MERGE_PATCH = "application/merge-patch+json"

USER_AGENT = "velero_ops.tuning"
DEFAULT_PAGE_SIZE = 500
# The most objects one list may hold: the sizing inputs' bound on cluster.objects
# (schemas/sizing-input.schema.json). A list needing more pages than that at its page size does not end.
MAX_LIST_OBJECTS = 100_000_000


def page_cap(limit: int | None) -> int:
    """Most pages one list may take: every object of ``MAX_LIST_OBJECTS`` on its own page share, plus the last."""
    size = limit if limit and limit > 0 else DEFAULT_PAGE_SIZE
    return -(-MAX_LIST_OBJECTS // size) + 1


# --------------------------------------------------------------------------------------------
# Connection options
# --------------------------------------------------------------------------------------------

_TRUE_FALSE_OFF = ("0", "false", "no", "off")


def _env_bool(value: str) -> bool:
    # kubernetes.core semantics: anything but 0/false/no is true.
    return value.strip().lower() not in _TRUE_FALSE_OFF


# kubernetes.config.incluster_config's paths, repeated here because ConnectionOptions defaults to them even
# when the kubernetes library is missing.
SERVICE_TOKEN_FILENAME = "/var/run/secrets/kubernetes.io/serviceaccount/token"
SERVICE_CERT_FILENAME = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
DEFAULT_KUBECONFIG = "~/.kube/config"


@dataclasses.dataclass
class ConnectionOptions:
    """How to reach the API; field names follow kubernetes.core's module options.

    Which configuration is used, as in kubernetes.core (``k8s/client.py``):

    1. ``host`` with ``api_key`` (or ``client_cert`` + ``client_key``): nothing else is read;
    2. ``kubeconfig`` (path, ``:``-separated paths, or mapping) or ``context``: that kubeconfig, or for a
       context alone the default kubeconfig (``$KUBECONFIG``, else ``~/.kube/config``);
    3. nothing given: the in-cluster service account first, then the default kubeconfig.

    Options win over the K8S_AUTH_* environment variables (``from_params``); ``$KUBECONFIG`` is only
    the default kubeconfig, never an explicit option. ``environ`` and ``incluster_files`` are not user
    options: they let tests give the environment and the service-account files.
    """

    kubeconfig: t.Any = None  # path (str) or the parsed kubeconfig (dict)
    context: str | None = None
    host: str | None = None
    api_key: str | None = dataclasses.field(default=None, repr=False)
    validate_certs: bool | None = None
    ca_cert: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    proxy: str | None = None
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    no_proxy: str | None = None
    proxy_headers: t.Optional[t.Mapping[str, t.Any]] = dataclasses.field(default=None, repr=False)
    impersonate_user: str | None = None
    impersonate_groups: t.Optional[t.Sequence[str]] = None
    environ: t.Optional[t.Mapping[str, str]] = dataclasses.field(default=None, repr=False, compare=False)
    incluster_files: tuple[str, str] = dataclasses.field(
        default=(SERVICE_TOKEN_FILENAME, SERVICE_CERT_FILENAME), repr=False, compare=False)

    # option -> K8S_AUTH_* names, kubernetes.core order (option name first, then the client's name).
    ENV_FALLBACKS: t.ClassVar[dict[str, tuple[str, ...]]] = {
        "kubeconfig": ("K8S_AUTH_KUBECONFIG",),
        "context": ("K8S_AUTH_CONTEXT",),
        "host": ("K8S_AUTH_HOST",),
        "api_key": ("K8S_AUTH_API_KEY",),
        "validate_certs": ("K8S_AUTH_VALIDATE_CERTS", "K8S_AUTH_VERIFY_SSL"),
        "ca_cert": ("K8S_AUTH_CA_CERT", "K8S_AUTH_SSL_CA_CERT"),
        "client_cert": ("K8S_AUTH_CLIENT_CERT", "K8S_AUTH_CERT_FILE"),
        "client_key": ("K8S_AUTH_CLIENT_KEY", "K8S_AUTH_KEY_FILE"),
        "proxy": ("K8S_AUTH_PROXY",),
        "username": ("K8S_AUTH_USERNAME",),
        "password": ("K8S_AUTH_PASSWORD",),
        "no_proxy": ("K8S_AUTH_NO_PROXY",),
        "impersonate_user": ("K8S_AUTH_IMPERSONATE_USER",),
        "impersonate_groups": ("K8S_AUTH_IMPERSONATE_GROUPS",),
    }
    # proxy_headers suboption -> K8S_AUTH_PROXY_HEADERS_<SUBOPTION> (kubernetes.core's names).
    PROXY_HEADER_FIELDS: t.ClassVar[tuple[str, ...]] = ("proxy_basic_auth", "basic_auth", "user_agent")

    @classmethod
    def from_params(cls, params: t.Mapping[str, t.Any], environ: t.Mapping[str, str] | None = None) -> "ConnectionOptions":
        """Module parameters first, then the K8S_AUTH_* environment variables."""
        env = os.environ if environ is None else environ
        values: dict[str, t.Any] = {}
        for field, names in cls.ENV_FALLBACKS.items():
            value = params.get(field)
            if value is None:
                for name in names:
                    if env.get(name) not in (None, ""):
                        value = env[name]
                        break
                if isinstance(value, str) and field == "validate_certs":
                    value = _env_bool(value)
                if isinstance(value, str) and field == "impersonate_groups":
                    value = [group.strip() for group in value.split(",") if group.strip()]
            values[field] = value
        headers = {key: value for key, value in (params.get("proxy_headers") or {}).items() if value is not None}
        for key in cls.PROXY_HEADER_FIELDS:
            if key not in headers and env.get(f"K8S_AUTH_PROXY_HEADERS_{key.upper()}") not in (None, ""):
                headers[key] = env[f"K8S_AUTH_PROXY_HEADERS_{key.upper()}"]
        values["proxy_headers"] = headers or None
        options = cls(environ=env, **values)
        options.validate()
        return options

    def validate(self) -> None:
        if self.kubeconfig is not None and not isinstance(self.kubeconfig, (str, dict)):
            raise KubeConfigError(
                f"kubeconfig: expected a path or a kubeconfig mapping, got {type(self.kubeconfig).__name__}")
        if self.validate_certs is not None and not isinstance(self.validate_certs, bool):
            raise KubeConfigError(f"validate_certs: expected a boolean, got {self.validate_certs!r}")
        if self.host is not None and not re.match(r"^https?://", str(self.host)):
            raise KubeConfigError("host: expected a URL such as https://api.example.com:6443, got "
                                  f"{redact_url(str(self.host))!r}")
        if bool(self.username) != bool(self.password):
            raise KubeConfigError("username and password: basic authentication needs both")
        unknown = set(self.proxy_headers or {}) - set(self.PROXY_HEADER_FIELDS)
        if unknown:
            raise KubeConfigError(f"proxy_headers: unknown keys {', '.join(sorted(unknown))}; expected "
                                  f"{', '.join(self.PROXY_HEADER_FIELDS)}")
        if self.impersonate_groups and not self.impersonate_user:
            raise KubeConfigError("impersonate_groups: needs impersonate_user (the API server refuses groups alone)")

    def _has_direct_credentials(self) -> bool:
        return bool(self.host and (self.api_key or (self.client_cert and self.client_key)
                                   or (self.username and self.password)))

    def impersonation_headers(self) -> list[tuple[str, str]]:
        """Impersonate-User, and one Impersonate-Group per group (the API server reads every one)."""
        headers = [("Impersonate-User", self.impersonate_user)] if self.impersonate_user else []
        return headers + [("Impersonate-Group", str(group)) for group in self.impersonate_groups or ()]

    def _environment(self) -> t.Mapping[str, str]:
        # Read at use (not at kubernetes import time, as its KUBE_CONFIG_DEFAULT_LOCATION is) so the
        # caller's environment wins.
        return os.environ if self.environ is None else self.environ

    def default_kubeconfig(self) -> str:
        """``$KUBECONFIG`` (one path or several, ``:``-separated) or ``~/.kube/config``."""
        return self._environment().get("KUBECONFIG") or DEFAULT_KUBECONFIG

    def build_configuration(self) -> t.Any:
        """A fresh ``kubernetes.client.Configuration`` (the global default is never touched)."""
        if not HAS_KUBERNETES:
            raise KubeConfigError("the Python library 'kubernetes' is required: " + (KUBERNETES_IMPORT_ERROR or ""))
        configuration = _k8s_client.Configuration()
        source = "the kubeconfig mapping"
        try:
            if self._has_direct_credentials():
                pass  # kubernetes.core: host + token/cert is enough, no kubeconfig needed
            elif isinstance(self.kubeconfig, dict):
                _k8s_config.load_kube_config_from_dict(self.kubeconfig, context=self.context,
                                                       client_configuration=configuration, persist_config=False)
            elif self.kubeconfig or self.context:
                path = self.kubeconfig or self.default_kubeconfig()
                source = f"kubeconfig {path!r}"
                self._load_file(path, configuration)
            else:
                source = "the default kubeconfig"
                self._load_default(configuration)
        except KubeConfigError:
            raise
        except Exception as exc:  # ConfigException, YAML errors, exec plugin failures
            raise KubeConfigError(f"could not load {source}"
                                  f"{' context ' + repr(self.context) if self.context else ''}: {exc}") from exc
        if self.host:
            configuration.host = str(self.host).rstrip("/")
        if self.api_key:
            configuration.api_key = {"authorization": "Bearer " + self.api_key}
        if self.validate_certs is not None:
            configuration.verify_ssl = self.validate_certs
        if self.ca_cert:
            configuration.ssl_ca_cert = self.ca_cert
        if self.client_cert:
            configuration.cert_file = self.client_cert
        if self.client_key:
            configuration.key_file = self.client_key
        if self.proxy:
            configuration.proxy = self.proxy
        if self.no_proxy:
            configuration.no_proxy = self.no_proxy
        if self.proxy_headers:
            configuration.proxy_headers = urllib3.util.make_headers(**self.proxy_headers)
        if self.username and self.password:
            configuration.username = self.username
            configuration.password = self.password
            if not configuration.api_key:  # a bearer token (option or kubeconfig) wins, as in kubernetes.core
                configuration.api_key = {"authorization": configuration.get_basic_auth_token()}
        # Our own loop retries (bounded, counted, honouring Retry-After); urllib3 must not retry silently.
        configuration.retries = False
        if not configuration.host:
            raise KubeConfigError("no API server: set host, kubeconfig or context (or K8S_AUTH_HOST / KUBECONFIG)")
        return configuration

    @staticmethod
    def _kubeconfig_exists(path: str) -> bool:
        """Whether one of the ``:``-separated paths exists (the client merges those that do)."""
        return any(p and os.path.exists(os.path.expanduser(p)) for p in path.split(os.pathsep))

    def _load_file(self, path: str, configuration: t.Any) -> None:
        if not self._kubeconfig_exists(path):
            raise KubeConfigError(f"could not load kubeconfig {path!r}: no such file")
        _k8s_config.load_kube_config(config_file=path, context=self.context, client_configuration=configuration,
                                     persist_config=False)

    def _load_default(self, configuration: t.Any) -> None:
        """kubernetes.core order: in-cluster service account first, then the default kubeconfig."""
        token_file, cert_file = self.incluster_files
        loader = _k8s_incluster.InClusterConfigLoader(
            token_filename=token_file, cert_filename=cert_file, environ=self._environment())
        try:
            loader.load_and_set(configuration)
            return
        except _k8s_config.ConfigException as exc:
            in_cluster = str(exc)
        path = self.default_kubeconfig()
        if not self._kubeconfig_exists(path):
            raise KubeConfigError(f"no connection configured: not in a pod ({in_cluster}), no kubeconfig, context or "
                                  f"host given, and {path} does not exist (set kubeconfig/context/host, "
                                  f"K8S_AUTH_KUBECONFIG or KUBECONFIG)")
        self._load_file(path, configuration)


# --------------------------------------------------------------------------------------------
# Client
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Response:
    status: int
    headers: t.Mapping[str, str]
    data: bytes


def _checked_page(page: t.Mapping[str, t.Any], path: str) -> str | None:
    """The continue token of a list answer whose ``metadata``, ``items`` and token have their JSON types."""
    def bad(field: str, expected: str, value: t.Any) -> KubeMalformedAnswer:
        shown = repr(value)
        return KubeMalformedAnswer(
            f"GET {path}: the API server answered a list whose {field} is {type(value).__name__} "
            f"{shown[:60]}, expected {expected}", method="GET", path=path, reason="MalformedList")

    meta = page.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        raise bad("metadata", "an object", meta)
    items = page.get("items")
    if items is not None and not isinstance(items, list):
        raise bad("items", "a list", items)
    for index, item in enumerate(items or []):
        if not isinstance(item, dict):
            raise bad(f"items[{index}]", "an object", item)
    token = (meta or {}).get("continue")
    if token in (None, ""):
        return None
    if not isinstance(token, str):
        raise bad("metadata.continue", "a string", token)
    return token


class KubeClient:
    """Raw-path access to the API with bounded, counted retries.

    ``request_count`` counts HTTP requests actually sent, retries included.
    """

    def __init__(self, options: ConnectionOptions, *, max_retries: int = 5, request_timeout: float = 30.0,
                 sleep: t.Callable[[float], t.Any] = time.sleep, max_retry_after: float = 60.0,
                 backoff_base: float = 0.5, backoff_max: float = 8.0, deadline: float | None = None,
                 clock: t.Callable[[], float] = time.monotonic) -> None:
        if max_retries < 0:
            raise KubeConfigError(f"max_retries: expected an integer >= 0, got {max_retries!r}")
        if request_timeout <= 0:
            raise KubeConfigError(f"request_timeout: expected seconds > 0, got {request_timeout!r}")
        self._clock = clock
        self._deadline: float | None = None
        self.deadline_seconds: float | None = None
        self.set_deadline(deadline)
        self.options = options
        self.max_retries = int(max_retries)
        self.request_timeout = float(request_timeout)
        self.max_retry_after = float(max_retry_after)
        self.backoff_base = float(backoff_base)
        self.backoff_max = float(backoff_max)
        self._sleep = sleep
        self.request_count = 0
        self.retry_count = 0
        self.slept_seconds = 0.0
        self.aggregated_discovery: bool | None = None
        self.discovery_failures: dict[str, str] = {}
        self.group_versions = 0
        loader_files_before = _kube_tempfiles.loader_files()
        self.configuration = options.build_configuration()
        # Key material the kubernetes loader wrote for this configuration: removed by close() and on signals.
        self.key_files = _kube_tempfiles.track(_kube_tempfiles.loader_files() - loader_files_before | {
            path for path in (self.configuration.key_file, self.configuration.cert_file,
                              self.configuration.ssl_ca_cert) if path in _kube_tempfiles.loader_files()})
        try:
            self._api_client = _k8s_client.ApiClient(configuration=self.configuration)
        except BaseException:
            _kube_tempfiles.remove(self.key_files)
            raise
        self.host = str(self.configuration.host).rstrip("/")

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        try:
            self._api_client.close()
        except Exception:  # closing is best effort; nothing useful to report
            pass
        finally:
            _kube_tempfiles.remove(self.key_files)

    # -- overall deadline ------------------------------------------------------------------------

    def set_deadline(self, seconds: float | None) -> None:
        """An overall deadline ``seconds`` from now (None or 0: none) for every later request, retry and wait:
        a module passes its ``timeout`` here. Past it, requests raise ``KubeDeadlineExceeded``."""
        if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, (int, float))
                                    or seconds < 0):
            raise KubeConfigError(f"timeout: expected seconds >= 0, got {seconds!r}")
        self.deadline_seconds = float(seconds) if seconds else None
        self._deadline = self._clock() + float(seconds) if seconds else None

    def remaining(self) -> float | None:
        """Seconds left before the deadline (may be negative), None without one."""
        return None if self._deadline is None else self._deadline - self._clock()

    def check_deadline(self, what: str) -> None:
        """Raise ``KubeDeadlineExceeded`` naming ``what`` when the deadline has passed (for callers' own loops:
        polling, 409 re-reads)."""
        remaining = self.remaining()
        if remaining is not None and remaining <= 0:
            raise KubeDeadlineExceeded(f"{what}: the overall timeout of {self.deadline_seconds:g}s passed",
                                       reason="DeadlineExceeded")

    def __enter__(self) -> "KubeClient":
        return self

    def __exit__(self, *exc_info: t.Any) -> None:
        self.close()

    # -- public API ------------------------------------------------------------------------------

    def get(self, path: str, query: t.Mapping[str, t.Any] | None = None, *, metadata_only: bool = False) -> dict:
        return self._json("GET", path, query=query, accept=ACCEPT_METADATA if metadata_only else ACCEPT_JSON)

    def list_pages(self, path: str, *, limit: int = DEFAULT_PAGE_SIZE, metadata_only: bool = False,
                   label_selector: str | None = None, field_selector: str | None = None,
                   max_pages: int | None = None) -> t.Iterator[dict]:
        """Yield raw list pages (``items`` + ``metadata``), following ``metadata.continue``.

        Bounded: a token that comes back a second time (kube-apiserver encodes the next key into every token,
        so only a broken server or proxy repeats one) or more than ``max_pages`` pages (default ``page_cap``,
        from the object bound) raise ``KubePaginationError``; a page whose ``items``/``metadata`` have the wrong
        JSON type raises ``KubeMalformedAnswer``. Both name the resource.
        """
        if limit is not None and limit < 0:
            raise KubeConfigError(f"limit: expected an integer >= 0, got {limit!r}")
        accept = ACCEPT_METADATA_LIST if metadata_only else ACCEPT_JSON
        cap = max_pages if max_pages is not None else page_cap(limit)
        seen: dict[str, int] = {}
        token: str | None = None
        number = 0
        while True:
            query = {"limit": limit or None, "continue": token, "labelSelector": label_selector,
                     "fieldSelector": field_selector}
            page = self._json("GET", path, query=query, accept=accept)
            number += 1
            token = _checked_page(page, path)
            if token is not None:
                if token in seen:
                    raise KubePaginationError(
                        f"GET {path}: the list of {describe_resource(path)} does not end: page {number} carries the "
                        f"continue token the API server already gave on page {seen[token]}; stopped (a broken API "
                        f"server, aggregated API or proxy)", method="GET", path=path, reason="RepeatedContinue")
                if number >= cap:
                    raise KubePaginationError(
                        f"GET {path}: the list of {describe_resource(path)} needs more than {cap} pages of "
                        f"{limit or 'server-chosen'} objects; stopped (more than {MAX_LIST_OBJECTS:,} objects cannot "
                        f"be sized)", method="GET", path=path, reason="TooManyPages")
                seen[token] = number
            yield page
            if not token:
                return

    def list(self, path: str, *, limit: int = DEFAULT_PAGE_SIZE, metadata_only: bool = False,
             label_selector: str | None = None, field_selector: str | None = None) -> t.Iterator[dict]:
        """Yield items one by one; only one page is held in memory at a time."""
        for page in self.list_pages(path, limit=limit, metadata_only=metadata_only,
                                    label_selector=label_selector, field_selector=field_selector):
            items = page.get("items") or []
            page.clear()
            yield from items

    def count(self, path: str, *, limit: int = DEFAULT_PAGE_SIZE, label_selector: str | None = None,
              field_selector: str | None = None) -> int:
        """Number of objects: metadata-only pages, stopping early on ``metadata.remainingItemCount``."""
        total = 0
        pages = self.list_pages(path, limit=limit, metadata_only=True, label_selector=label_selector,
                                field_selector=field_selector)
        try:
            for page in pages:
                total += len(page.get("items") or [])
                meta = page.get("metadata") or {}
                remaining = meta.get("remainingItemCount")
                if meta.get("continue") and isinstance(remaining, int) and not isinstance(remaining, bool) \
                        and remaining >= 0:
                    return total + remaining
        finally:
            pages.close()
        return total

    def create(self, path: str, body: t.Mapping[str, t.Any]) -> dict:
        """POST. A create retried after a lost response may raise KubeConflict (AlreadyExists)."""
        return self._json("POST", path, body=dict(body), content_type=ACCEPT_JSON)

    def update(self, path: str, body: t.Mapping[str, t.Any]) -> dict:
        return self._json("PUT", path, body=dict(body), content_type=ACCEPT_JSON)

    def merge_patch(self, path: str, patch: t.Mapping[str, t.Any]) -> dict:
        """JSON merge patch (RFC 7386): ``None`` values delete keys."""
        return self._json("PATCH", path, body=dict(patch), content_type=CONTENT_MERGE_PATCH)

    def delete(self, path: str, *, propagation_policy: str | None = "Background") -> None:
        body = None
        if propagation_policy:
            body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation_policy}
        self._request("DELETE", path, body=body, content_type=ACCEPT_JSON if body else None)

    def pod_log(self, namespace: str, name: str, *, container: str | None = None,
                tail_lines: int | None = None) -> str:
        query = {"container": container, "tailLines": tail_lines}
        response = self._request("GET", f"/api/v1/namespaces/{namespace}/pods/{name}/log", query=query,
                                 accept="text/plain, */*")
        return response.data.decode("utf-8", errors="replace")

    def server_version(self) -> dict:
        return self._json("GET", "/version")

    def discover(self) -> list[APIResource]:
        """Served resource types, one entry per resource in its preferred version (as client-go's
        ``ServerPreferredResources``), subresources folded into their parent.

        Two requests when the server offers aggregated discovery (Kubernetes 1.26+ beta, 1.30 GA);
        otherwise one per group-version, like client-go. Group-versions that fail (e.g. an
        aggregated API server that is down) are skipped and recorded in ``discovery_failures``.
        ``group_versions`` is set to the number of served group-versions.
        """
        self.discovery_failures = {}
        core = self._json("GET", "/api", accept=ACCEPT_AGGREGATED_DISCOVERY)
        apis = self._json("GET", "/apis", accept=ACCEPT_AGGREGATED_DISCOVERY)
        groups: list[tuple[str, list[tuple[str, list[APIResource]]]]] = []
        aggregated = True
        if core.get("kind") == "APIGroupDiscoveryList":
            groups += aggregated_versions(core, self.discovery_failures)
        else:
            aggregated = False
            versions = [str(v) for v in core.get("versions") or ["v1"]]
            groups.append(("", [(v, self._legacy_group_version("", v)) for v in versions]))
        if apis.get("kind") == "APIGroupDiscoveryList":
            groups += aggregated_versions(apis, self.discovery_failures)
        else:
            aggregated = False
            for group in apis.get("groups") or []:
                name = str(group.get("name", ""))
                listed = [str(v.get("version", "")) for v in group.get("versions") or [] if v.get("version")]
                preferred = (group.get("preferredVersion") or {}).get("version")
                if preferred in listed:
                    listed.remove(preferred)
                    listed.insert(0, preferred)
                groups.append((name, [(v, self._legacy_group_version(name, v)) for v in listed]))
        self.aggregated_discovery = aggregated
        stale = sum(1 for reason in self.discovery_failures.values() if reason == "discovery document is stale")
        self.group_versions = sum(len(versions) for _group, versions in groups) + stale
        return preferred_resources(groups)

    # -- internals -----------------------------------------------------------------------------

    def _legacy_group_version(self, group: str, version: str) -> list[APIResource]:
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        try:
            document = self._json("GET", path)
        except (KubeUnauthorized, KubeConfigError):
            raise
        except KubeAPIError as exc:
            if isinstance(exc, KubeForbidden) and not group:
                raise
            self.discovery_failures[path.split("/", 2)[-1]] = exc.message
            return []
        return parse_resource_list(group, version, document)

    def _json(self, method: str, path: str, *, query: t.Mapping[str, t.Any] | None = None, body: t.Any = None,
              accept: str = ACCEPT_JSON, content_type: str | None = None) -> dict:
        response = self._request(method, path, query=query, body=body, accept=accept, content_type=content_type)
        if not response.data:
            return {}
        try:
            document = json.loads(response.data)
        except ValueError as exc:
            raise KubeAPIError(f"{method} {path}: the API server answered {response.status} with a body that is "
                               f"not JSON ({exc})", status=response.status, method=method, path=path) from exc
        if not isinstance(document, dict):
            raise KubeAPIError(f"{method} {path}: expected a JSON object from the API server",
                               status=response.status, method=method, path=path)
        return document

    def _url(self, path: str, query: t.Mapping[str, t.Any] | None) -> str:
        if not path.startswith("/"):
            raise KubeConfigError(f"path: expected an API path starting with '/', got {path!r}")
        url = self.host + path
        pairs = [(k, str(v).lower() if isinstance(v, bool) else str(v))
                 for k, v in (query or {}).items() if v is not None and v != ""]
        if pairs:
            url += "?" + urlencode(pairs)
        return url

    def _send(self, method: str, url: str, headers: dict[str, str], body: t.Any) -> _Response:
        settings = self.configuration.auth_settings().get("BearerToken")
        if settings and settings.get("value"):
            headers[str(settings.get("key") or "authorization")] = str(settings["value"])
        impersonation = self.options.impersonation_headers()
        if impersonation:
            # A header dict that keeps repeated names: one Impersonate-Group header per group.
            multi = urllib3.HTTPHeaderDict(headers)
            for name, value in impersonation:
                multi.add(name, value)
            headers = multi  # type: ignore[assignment]
        try:
            raw = self._api_client.rest_client.request(
                method, url, headers=headers, body=body, _request_timeout=self._timeout())
        except _ApiException as exc:
            # Older clients raise for non-2xx answers; status 0 means TLS/serialisation trouble.
            if not exc.status:
                raise KubeAPIError(f"{method} {url}: {exc.reason}", reason="TransportError", method=method) from exc
            data = exc.body if exc.body is not None else b""
            return _Response(int(exc.status), exc.headers or {}, data.encode("utf-8") if isinstance(data, str) else data)
        data = getattr(raw, "data", None)
        if data is None:
            data = raw.read()
        if isinstance(data, str):
            data = data.encode("utf-8")
        headers_out = getattr(raw, "headers", None)
        if headers_out is None:
            headers_out = raw.getheaders()
        return _Response(int(raw.status), headers_out or {}, data or b"")

    def _backoff(self, attempt: int) -> float:
        return backoff_seconds(attempt, self.backoff_base, self.backoff_max)

    def _wait(self, seconds: float, method: str, path: str, problem: str, why: str) -> None:
        """Sleep before a retry, unless that would pass the deadline: then give up at once."""
        remaining = self.remaining()
        if remaining is not None and seconds >= remaining:
            raise KubeDeadlineExceeded(
                f"{method} {path}: the Kubernetes API at {self.host} answered {problem}; waiting {seconds:g}s more "
                f"({why}) would pass the overall timeout of {self.deadline_seconds:g}s ({max(remaining, 0):.1f}s "
                f"left)", method=method, path=path, reason="DeadlineExceeded")
        if seconds > 0:
            self.slept_seconds += seconds
            self._sleep(seconds)

    def _before_attempt(self, method: str, path: str, problem: str) -> None:
        remaining = self.remaining()
        if remaining is not None and remaining <= 0:
            last = f" (last answer: {problem})" if problem else ""
            raise KubeDeadlineExceeded(f"{method} {path}: the overall timeout of {self.deadline_seconds:g}s passed"
                                       f"{last}", method=method, path=path, reason="DeadlineExceeded")

    def _timeout(self) -> float:
        """One request's timeout: ``request_timeout``, never past the deadline."""
        remaining = self.remaining()
        return self.request_timeout if remaining is None else max(0.001, min(self.request_timeout, remaining))

    def _request(self, method: str, path: str, *, query: t.Mapping[str, t.Any] | None = None, body: t.Any = None,
                 accept: str = ACCEPT_JSON, content_type: str | None = None) -> _Response:
        url = self._url(path, query)
        attempts = self.max_retries + 1
        last_problem = ""
        last_status: int | None = None
        last_retry_after: float | None = None
        last_body: t.Any = None
        for attempt in range(attempts):
            self._before_attempt(method, path, last_problem)
            headers = {"Accept": accept, "User-Agent": USER_AGENT}
            if content_type:
                headers["Content-Type"] = content_type
            self.request_count += 1
            if attempt:
                self.retry_count += 1
            try:
                response = self._send(method, url, headers, body)
            except KubeAPIError:
                raise
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                last_problem = transport_problem(exc)
                last_status, last_retry_after = None, None
                if attempt + 1 < attempts:
                    self._wait(self._backoff(attempt), method, path, last_problem, "backoff")
                continue
            if 200 <= response.status < 300:
                return response
            error_body = status_body(response.data)
            if response.status in RETRY_STATUSES:
                last_status = response.status
                last_body = error_body
                last_retry_after = retry_after_seconds(header_value(response.headers, "Retry-After"))
                last_problem = status_text(response.status, error_body)
                if attempt + 1 < attempts:
                    if last_retry_after is None:
                        self._wait(self._backoff(attempt), method, path, last_problem, "backoff")
                    else:
                        self._wait(min(last_retry_after, self.max_retry_after), method, path, last_problem,
                                   "Retry-After")
                continue
            raise error_for_status(method, path, query, response.status, error_body)
        where = f"{method} {path}"
        if last_status is None:
            message = (f"{where}: the Kubernetes API at {redact_url(self.host)} is unreachable after {attempts} "
                       f"attempt(s): {last_problem}")
        else:
            message = (f"{where}: the Kubernetes API at {redact_url(self.host)} kept answering {last_problem} "
                       f"({attempts} attempt(s), {self.slept_seconds:.1f}s spent waiting in total)")
        raise KubeUnavailable(message, status=last_status, reason=(last_body or {}).get("reason", "") or (
            "Unreachable" if last_status is None else ""), method=method, path=path,
            retry_after=last_retry_after, body=last_body)
