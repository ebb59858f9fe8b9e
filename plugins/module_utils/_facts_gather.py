# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Read a live cluster for ``cluster_facts``: which requests to send, in which order, and what a
failure of each means. The logic lives in ``_cluster_facts`` (pure); this file only does I/O.

Request budget (what makes it scale): discovery (2 requests with aggregated discovery), one
paged list of namespaces, one metadata-only count per resource type (one request when the server
returns ``metadata.remainingItemCount``), metadata-only pages of pods and full pages of PVCs for
the per-namespace figures, and a handful of lists in the Velero namespace. Nothing is kept per
object: every page is folded into counters and dropped.

Failure policy: 401, an unreachable API server, the overall deadline, and failures of discovery or
the namespace list end the run (raised to the module). A 403, a type that keeps answering 429/5xx
after the retries (a CRD whose conversion webhook is down), a malformed answer or any other API error
on one resource type or one Velero object is recorded in ``errors`` (with the missing permission for
403, the status otherwise), the facts are flagged ``partial``, the counts it touches are listed in
``lower_bounds`` and the run continues.

Everything read goes through ``_api_shapes.check_object`` first (``_items``): one boundary where a
string, number or null in place of an object becomes an error naming the kind, object and field.
"""

from __future__ import annotations

import dataclasses
import time
import typing as t

from . import _cluster_facts as facts
from . import _observed
from ._api_shapes import MalformedObject, check_object
from ._kube import KubeClient
from ._kube_discovery import APIResource
from ._kube_errors import KubeAPIError, KubeForbidden, KubeUnauthorized, KubeUnavailable
from ._quantity import GiB, format_memory
from ._releases import VeleroRelease
from ._releases import release as lookup_release
from ._velero_server import ServerDeployment, command_words, config_key, find_server_deployment, parse_flags

PODS = ("", "pods")
PVCS = ("", "persistentvolumeclaims")
NAMESPACES = ("", "namespaces")
NODES = ("", "nodes")
POD_METRICS = ("metrics.k8s.io", "pods")


@dataclasses.dataclass
class FactsRequest:
    scope: facts.Scope = dataclasses.field(default_factory=facts.Scope)
    velero_namespace: str = "velero"
    page_size: int = facts.DEFAULT_PAGE_SIZE
    velero_version: str | None = None  # overrides the version read from the server image
    policy: dict | None = None
    now: float | None = None
    # The release of velero_version, looked up here so a bad option value (the user's to fix) raises
    # ValueError before any request; an unrecognised image tag in the cluster only makes the facts partial.
    release: VeleroRelease | None = dataclasses.field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.velero_version not in (None, ""):
            self.release = lookup_release(self.velero_version, "velero_version")


class _Errors:
    def __init__(self) -> None:
        self.entries: list[dict[str, t.Any]] = []
        self.partial = False

    def record(self, what: str, exc: KubeAPIError, *, partial: bool = True, resource: str | None = None) -> None:
        # Unreachable (no status) and 401 concern every request: the run ends. A type that keeps answering
        # 429/5xx after the retries is one broken type (issue 13 item 8): partial, like a 403.
        # The client's overall deadline is a KubeUnavailable without status too.
        if isinstance(exc, KubeUnauthorized) or (isinstance(exc, KubeUnavailable) and exc.status is None):
            raise exc
        entry: dict[str, t.Any] = {"what": what, "status": exc.status, "message": exc.message}
        if resource is not None:
            entry["resource"] = resource
        if isinstance(exc, KubeForbidden):
            entry["missing_permission"] = exc.permission
        self.entries.append(entry)
        self.partial = self.partial or partial

    def note(self, what: str, message: str, *, partial: bool = False) -> None:
        self.entries.append({"what": what, "status": None, "message": message})
        self.partial = self.partial or partial


class FactsError(Exception):
    """The facts cannot be gathered at all (message is for the user)."""


def _image_release(server: ServerDeployment) -> tuple[VeleroRelease | None, str | None]:
    """The release of the server image's version tag, or None and why not."""
    if server.version is None:
        return None, f"the Velero version cannot be read from the image {server.image!r}"
    try:
        return lookup_release(server.version, "Velero server image tag"), None
    except ValueError as exc:
        return None, f"image {server.image!r}: {exc}"


def _find(resources: t.Sequence[APIResource], group: str, plural: str) -> APIResource | None:
    for resource in resources:
        if resource.group == group and resource.plural == plural:
            return resource
    return None


class Gatherer:
    def __init__(self, client: KubeClient, request: FactsRequest) -> None:
        self.client = client
        self.request = request
        self.scope = request.scope
        self.errors = _Errors()
        self.page_size = request.page_size
        self.now = request.now if request.now is not None else time.time()
        self.resources: list[APIResource] = []
        self.namespaces_in_scope: set[str] = set()
        self.stats = facts.NamespaceStats()
        self.counts: dict[tuple[str, str], int | None] = {}
        self.repositories_known = False
        self.repositories: list[dict] = []
        self.observations = _observed.Observations()
        self.lower_bounds: set[str] = set()

    def _malformed(self, exc: MalformedObject) -> None:
        self.errors.note(f"read {exc.kind} {exc.name}", f"malformed answer from the API server: {exc}",
                         partial=True)

    # -- helpers ------------------------------------------------------------------------------------

    def _list(self, resource: APIResource, namespace: str | None = None, *, metadata_only: bool = False,
              field_selector: str | None = None) -> t.Iterator[dict]:
        """Checked objects (``_api_shapes``) of one list; a malformed one is recorded and skipped."""
        kind = "PartialObjectMetadata" if metadata_only else resource.kind
        for item in self.client.list(resource.path(namespace=namespace), limit=self.page_size,
                                     metadata_only=metadata_only, field_selector=field_selector):
            try:
                yield check_object(item, kind)
            except MalformedObject as exc:
                self._malformed(exc)

    def _in_scope(self, namespace: str) -> bool:
        # A whole-cluster backup lists each type cluster-wide, so it also sees objects of namespaces
        # that are not Active (Terminating); the namespace count itself is Active namespaces only.
        return self.scope.includes_everything or namespace in self.namespaces_in_scope

    # -- steps ----------------------------------------------------------------------------------------

    def discover(self) -> dict[str, t.Any]:
        info: dict[str, t.Any] = {}
        try:
            version = self.client.server_version()
            info["version"] = version.get("gitVersion")
        except KubeAPIError as exc:
            self.errors.record("get /version", exc, partial=False)
        try:
            self.resources = self.client.discover()
        except (KubeUnavailable, KubeUnauthorized):
            raise
        except KubeAPIError as exc:
            raise FactsError(f"API discovery failed, nothing can be counted: {exc}") from exc
        for group_version, message in sorted(self.client.discovery_failures.items()):
            self.errors.note(f"discover {group_version}", message, partial=True)
        info["aggregated_discovery"] = bool(self.client.aggregated_discovery)
        info["group_versions"] = self.client.group_versions
        info["resource_types_served"] = len(self.resources)
        return info

    def list_namespaces(self) -> int:
        resource = _find(self.resources, *NAMESPACES)
        if resource is None:
            raise FactsError("the API server does not serve v1 namespaces")
        active = 0
        try:
            for namespace in self._list(resource):
                if not facts.namespace_active(namespace):
                    continue
                active += 1
                name = str((namespace.get("metadata") or {}).get("name", ""))
                if self.scope.namespace_selected(name):
                    self.namespaces_in_scope.add(name)
        except (KubeUnavailable, KubeUnauthorized):
            raise
        except KubeAPIError as exc:
            raise FactsError(f"listing namespaces failed, the backup scope cannot be resolved: {exc}") from exc
        return active

    def count_pods(self) -> None:
        resource = _find(self.resources, *PODS)
        if resource is None:
            return
        total = 0
        try:
            for pod in self._list(resource, metadata_only=True):
                namespace = str((pod.get("metadata") or {}).get("namespace", ""))
                self.stats.add_pod(namespace)
                if self._in_scope(namespace):
                    total += 1
        except KubeAPIError as exc:
            self.errors.record("list pods (all namespaces)", exc, resource="pods")
            self.counts[PODS] = None
            return
        self.counts[PODS] = total

    def count_pvcs(self) -> None:
        resource = _find(self.resources, *PVCS)
        if resource is None:
            return
        total = 0
        try:
            # Full objects: status.capacity is not in the metadata. PVCs are small and few.
            for pvc in self._list(resource):
                self.stats.add_pvc(pvc)
                if self._in_scope(str((pvc.get("metadata") or {}).get("namespace", ""))):
                    total += 1
        except KubeAPIError as exc:
            self.errors.record("list persistentvolumeclaims (all namespaces)", exc, resource="persistentvolumeclaims")
            self.counts[PVCS] = None
            return
        self.counts[PVCS] = total

    def count_type(self, resource: APIResource) -> int | None:
        """Objects of one type inside the scope, metadata only."""
        key = (resource.group, resource.plural)
        if key in self.counts:
            return self.counts[key]
        try:
            if not resource.namespaced:
                value = self.client.count(resource.path(), limit=self.page_size)
            elif self.scope.includes_everything:
                value = self.client.count(resource.path(), limit=self.page_size)
            else:
                value = self._count_namespaced_in_scope(resource)
        except KubeAPIError as exc:
            where = "at the cluster scope" if not resource.namespaced or self.scope.includes_everything else \
                "in the namespaces in scope"
            self.errors.record(f"count {resource.group_resource} {where}", exc, resource=resource.group_resource)
            value = None
        self.counts[key] = value
        return value

    def _count_namespaced_in_scope(self, resource: APIResource) -> int:
        if not self.namespaces_in_scope:
            return 0
        pages = self.client.list_pages(resource.path(), limit=self.page_size, metadata_only=True)
        try:
            first = next(pages, {})
            items = first.get("items") or []
            meta = first.get("metadata") or {}
            in_scope = sum(1 for item in items if self._in_scope(str((item.get("metadata") or {}).get("namespace", ""))))
            if not meta.get("continue"):
                return in_scope
            remaining = meta.get("remainingItemCount")
            total = len(items) + remaining if isinstance(remaining, int) else None
            if total is not None and facts.namespace_count_strategy(
                    total, len(items), self.page_size, len(self.namespaces_in_scope)) == "per-namespace":
                pages.close()
                return sum(self.client.count(resource.path(namespace=ns), limit=self.page_size)
                           for ns in sorted(self.namespaces_in_scope))
            for page in pages:
                in_scope += sum(1 for item in page.get("items") or []
                                if self._in_scope(str((item.get("metadata") or {}).get("namespace", ""))))
            return in_scope
        finally:
            pages.close()

    # -- Velero ---------------------------------------------------------------------------------------

    def velero(self) -> tuple[dict[str, t.Any], dict[str, t.Any], facts.BackupStats | None, facts.ProtectedData | None]:
        """Velero's own state: (public ``velero`` facts, current settings, backup stats, protected data)."""
        namespace = self.request.velero_namespace
        result: dict[str, t.Any] = {"namespace": namespace, "installed": False, "version": None, "image": None,
                                    "deployment": None, "settings": {}, "backup_storage_locations": [],
                                    "repositories": [], "backups": None, "node_agent": None, "warnings": []}
        deployments = _find(self.resources, "apps", "deployments")
        server: ServerDeployment | None = None
        if deployments is not None:
            try:
                server = find_server_deployment(self._list(deployments, namespace))
            except KubeAPIError as exc:
                self.errors.record(f"list deployments in namespace {namespace}", exc)
        server_flags: dict[str, str] = {}
        server_container = None
        release = self.request.release  # an explicit velero_version, validated by FactsRequest
        version_text = release.text if release is not None else None
        if server is not None:
            server_container = server.container
            server_flags = server.flags
            result.update(installed=True, image=server.image)
            result["deployment"] = {"name": server.name, "named_velero": server.named_velero,
                                    "replicas": (server.deployment.get("spec") or {}).get("replicas"),
                                    "container": server_container.get("name"),
                                    "resources": facts._resources(server_container)}
            if release is None:
                version_text = server.version
                release, problem = _image_release(server)
                if problem is not None:
                    # The cluster's own image, not the user's option: report it, carry on without drift.
                    result["warnings"].append(f"{problem}; set velero_version to compute drift")
                    self.errors.note("Velero version", problem, partial=True)
        elif deployments is not None:
            result["warnings"].append(f"no Deployment running 'velero server' found in namespace {namespace}")
        if version_text:
            result["version"] = version_text
        if server is not None and release is not None and release.at_least(14) and not server.named_velero:
            result["warnings"].append(
                f"the Velero server Deployment is named {server.name!r}: Velero "
                f"{result['version']} builds repository-maintenance Jobs from the Deployment named 'velero' "
                "(issue #7987), so maintenance Jobs cannot start; use chart 11.0.0+ or rename the Deployment")
        result["settings"] = {"flags": server_flags}

        maintenance_cm = facts.parse_maintenance_configmap(
            self._configmap(namespace, server_flags.get("repo-maintenance-job-configmap")))
        backup_repo_cm = None
        backup_repo_name = server_flags.get("backup-repository-configmap")
        if backup_repo_name:
            raw = self._configmap(namespace, backup_repo_name)
            parsed = facts.parse_maintenance_configmap(raw)  # same format: key -> JSON
            backup_repo_cm = parsed["repositories"]
            maintenance_cm["problems"] += parsed["problems"]
        for problem in maintenance_cm["problems"]:
            result["warnings"].append(problem)

        node_agent_container = None
        node_agent_config = None
        daemonsets = _find(self.resources, "apps", "daemonsets")
        if daemonsets is not None:
            try:
                found = facts.find_node_agent(list(self._list(daemonsets, namespace)))
            except KubeAPIError as exc:
                self.errors.record(f"list daemonsets in namespace {namespace}", exc)
                found = None
            if found is not None:
                daemonset, node_agent_container = found
                flags = parse_flags(command_words(node_agent_container))
                config_name = flags.get("node-agent-configmap")
                if not config_name and release is not None and release.node_agent_config == "fixed-name":
                    config_name = "node-agent-config"
                node_agent_config, problems = facts.parse_single_key_configmap(self._configmap(namespace, config_name))
                result["warnings"] += problems
                result["node_agent"] = {"name": (daemonset.get("metadata") or {}).get("name"),
                                        "resources": facts._resources(node_agent_container),
                                        "configmap": config_name, "config": node_agent_config}

        current = facts.current_settings(release=release, server_flags=server_flags,
                                         server_container=server_container, maintenance_cm=maintenance_cm,
                                         backup_repository_cm=backup_repo_cm,
                                         node_agent_container=node_agent_container,
                                         node_agent_config=node_agent_config)
        result["settings"].update({
            "client_qps": (current.get("server.client_qps") or {}).get("value"),
            "client_burst": (current.get("server.client_burst") or {}).get("value"),
            "client_page_size": (current.get("server.client_page_size") or {}).get("value"),
            "maintenance_frequency": (current.get("maintenance.frequency") or {}).get("value"),
            "keep_latest_maintenance_jobs": (current.get("maintenance.keep_latest_jobs") or {}).get("value"),
            "maintenance_pod_resources": (current.get("maintenance.pod_resources") or {}).get("value"),
            "repo_maintenance_job_configmap": server_flags.get("repo-maintenance-job-configmap"),
            "backup_repository_configmap": backup_repo_name,
            "uploader_type": server_flags.get("uploader-type"),
            "features": server_flags.get("features"),
            "sources": {path: entry["source"] for path, entry in sorted(current.items())},
        })
        result["maintenance_configmap"] = {"global": maintenance_cm["global"],
                                           "repositories": maintenance_cm["repositories"]}

        backups_stats = None
        protected = None
        if _find(self.resources, "velero.io", "backups") is not None:
            result["installed"] = True
            default_bsl = None
            bsls = self._velero_list("backupstoragelocations", namespace)
            if bsls is not None:
                result["backup_storage_locations"] = [facts.summarize_bsl(b) for b in bsls]
                default_bsl = next((b["name"] for b in result["backup_storage_locations"] if b["default"]), None)
            repos = self._velero_list("backuprepositories", namespace)
            if repos is not None:
                result["repositories"] = [facts.summarize_repository(r) for r in repos]
                self.repositories_known = True
                self.repositories = repos
            backups_stats = facts.BackupStats(self.now)
            if not self._velero_stream("backups", namespace, backups_stats.add):
                backups_stats = None
            else:
                result["backups"] = backups_stats.as_dict()
            protected = facts.ProtectedData(default_bsl)
            ok_du = self._velero_stream("datauploads", namespace, protected.add_data_upload)
            ok_pvb = self._velero_stream("podvolumebackups", namespace, protected.add_pod_volume_backup)
            result["protected"] = {"data_uploads": protected.data_uploads,
                                   "pod_volume_backups": protected.pod_volume_backups,
                                   "volumes": protected.volumes, "bytes": protected.total_bytes(),
                                   "per_repository": protected.per_repository(),
                                   "complete": bool(ok_du and ok_pvb)}
            result["default_backup_storage_location"] = default_bsl
        result["_release"] = release
        return result, current, backups_stats, protected

    def _configmap(self, namespace: str, name: str | None) -> dict | None:
        if not name:
            return None
        configmaps = _find(self.resources, "", "configmaps")
        if configmaps is None:
            return None
        try:
            # A field-selected list instead of a get: the ClusterRole then needs only "list".
            for item in self._list(configmaps, namespace, field_selector=f"metadata.name={name}"):
                return item
        except KubeAPIError as exc:
            self.errors.record(f"read ConfigMap {namespace}/{name}", exc)
            return None
        self.errors.note(f"read ConfigMap {namespace}/{name}", "the ConfigMap named by the server flags does not exist")
        return None

    def _velero_list(self, plural: str, namespace: str) -> list[dict] | None:
        resource = _find(self.resources, "velero.io", plural)
        if resource is None:
            return None
        try:
            return list(self._list(resource, namespace))
        except KubeAPIError as exc:
            self.errors.record(f"list {plural}.velero.io in namespace {namespace}", exc, resource=f"{plural}.velero.io")
            return None

    def _velero_stream(self, plural: str, namespace: str, sink: t.Callable[[dict], t.Any]) -> bool:
        resource = _find(self.resources, "velero.io", plural)
        if resource is None:
            return True
        try:
            for item in self._list(resource, namespace):
                sink(item)
        except KubeAPIError as exc:
            self.errors.record(f"list {plural}.velero.io in namespace {namespace}", exc, resource=f"{plural}.velero.io")
            return False
        return True

    # -- what the cluster says about memory (issue 9, "Learn from the cluster itself") ---------------------

    def nodes(self) -> tuple[int | None, int | None, str]:
        """(node count, allocatable memory of the smallest node running the node-agent, which nodes).

        Whole Node objects: allocatable memory is not in the metadata. Pods of the node-agent must have been
        observed first (``observe_pods``)."""
        resource = _find(self.resources, *NODES)
        if resource is None:
            return None, None, "nodes are not served"
        nodes: list[dict] = []
        try:
            for node in self._list(resource):
                # Only what the smallest-node search reads is kept.
                nodes.append({"metadata": {"name": (node.get("metadata") or {}).get("name")},
                              "spec": {"unschedulable": (node.get("spec") or {}).get("unschedulable")},
                              "status": {"allocatable": {"memory": ((node.get("status") or {}).get("allocatable")
                                                                    or {}).get("memory")}}})
        except KubeAPIError as exc:
            self.errors.record("list nodes", exc, resource="nodes")
            self.counts[NODES] = None
            return None, None, "nodes could not be listed"
        self.counts[NODES] = len(nodes)
        memory, source = _observed.smallest_node_memory(nodes, self.observations.node_agent_nodes)
        return len(nodes), memory, source

    def observe_pods(self) -> None:
        """Velero's pods (server, node-agent, maintenance Jobs kept by keepLatestMaintenanceJobs), whole: the
        OOMKilled reasons, restart counts and limits are in spec and status."""
        resource = _find(self.resources, *PODS)
        namespace = self.request.velero_namespace
        if resource is None:
            return
        try:
            for pod in self._list(resource, namespace):
                self.observations.add_pod(pod)
        except KubeAPIError as exc:
            self.errors.record(f"list pods in namespace {namespace}", exc, resource="pods")

    def observe_metrics(self) -> None:
        """Current memory of Velero's pods from metrics.k8s.io, when served; its absence is not an error."""
        resource = _find(self.resources, *POD_METRICS)
        namespace = self.request.velero_namespace
        if resource is None:
            self.observations.metrics = "metrics.k8s.io is not served: no current memory use of Velero's pods"
            return
        try:
            for metrics in self._list(resource, namespace):
                self.observations.add_pod_metrics(metrics)
        except KubeAPIError as exc:
            # An unavailable metrics-server is common (it is an aggregated API); noted, not partial.
            if isinstance(exc, KubeUnauthorized) or (isinstance(exc, KubeUnavailable) and exc.status is None):
                raise
            self.errors.note(f"list pods.metrics.k8s.io in namespace {namespace}",
                             f"metrics.k8s.io did not answer ({exc.message}); no current memory figures")

    def observe_repositories(self) -> list[dict]:
        """Maintenance failures and index blob counts; drift entries for leftover restore annotations."""
        leftovers = []
        for repo in self.repositories:
            self.observations.add_repository(repo)
            leftovers.extend(_observed.leftover_restore_marks(repo))
        return leftovers


def _sizing_accepts(section: str, key: str | None = None) -> bool:
    """Whether the sizing inputs know ``section`` (``key`` in it): keys the model does not accept yet are
    returned by cluster_facts but not passed to it."""
    from ._sizing_inputs import FIELDS

    if key is None:
        return section in FIELDS
    return key in FIELDS.get(section, {})


def gather(client: KubeClient, request: FactsRequest) -> dict[str, t.Any]:
    """Everything ``cluster_facts`` returns. Raises KubeUnavailable/KubeUnauthorized/KubeConfigError/FactsError."""
    gatherer = Gatherer(client, request)
    scope = request.scope
    kubernetes_info = gatherer.discover()
    active_namespaces = gatherer.list_namespaces()
    if not gatherer.namespaces_in_scope:
        raise FactsError(f"no active namespace matches include_namespaces {list(scope.include_namespaces)} "
                         f"minus exclude_namespaces {list(scope.exclude_namespaces)} "
                         f"({active_namespaces} active namespaces in the cluster)")
    types, skipped = facts.backup_resource_types(gatherer.resources, scope)
    gatherer.count_pods()
    gatherer.count_pvcs()
    gatherer.observe_pods()
    nodes, node_memory, node_memory_source = gatherer.nodes()

    objects = 0
    uncounted: list[str] = []
    per_type = []
    for resource in types:
        key = (resource.group, resource.plural)
        if key == NAMESPACES:
            count: int | None = len(gatherer.namespaces_in_scope)
        else:
            count = gatherer.count_type(resource)
        if count is None:
            uncounted.append(resource.group_resource)
        else:
            objects += count
        per_type.append({"resource": resource.group_resource, "api_version": resource.api_version,
                         "kind": resource.kind, "namespaced": resource.namespaced, "objects": count})
    counted = [entry["objects"] for entry in per_type if entry["objects"] is not None]
    largest_type_objects = max(counted) if counted else None

    velero, current, backup_stats, protected = gatherer.velero()
    release = velero.pop("_release")
    leftovers = gatherer.observe_repositories()
    gatherer.observe_metrics()
    observed = gatherer.observations.as_dict()

    in_scope = gatherer._in_scope
    totals = gatherer.stats.totals(in_scope)
    # Pods and PVCs are paged for the per-namespace figures anyway; they count for sizing only when
    # the backup includes them.
    selected_keys = {(r.group, r.plural) for r in types}
    pods = gatherer.counts.get(PODS) if PODS in selected_keys else 0
    pvcs = gatherer.counts.get(PVCS) if PVCS in selected_keys else 0
    cluster = facts.sizing_cluster(
        namespaces=len(gatherer.namespaces_in_scope), objects=objects, resource_types=len(types),
        namespaced_resource_types=sum(1 for r in types if r.namespaced),
        api_groups=kubernetes_info.get("group_versions") or None,
        aggregated_discovery=kubernetes_info.get("aggregated_discovery"), nodes=nodes, pods=pods, volumes=pvcs)
    nodes_info: dict[str, t.Any] = {"count": nodes, "smallest_allocatable_memory": None, "memory_source": node_memory_source}
    if node_memory is not None:
        nodes_info["smallest_allocatable_memory"] = format_memory(node_memory)
        # The sizing input's range (1Gi-64Ti): a smaller node is reported here but not passed on.
        if GiB <= node_memory <= 64 * 2**40:
            cluster["node_memory"] = format_memory(node_memory)
    if largest_type_objects is not None and _sizing_accepts("cluster", "largest_resource_type_objects"):
        cluster["largest_resource_type_objects"] = largest_type_objects
    lower_bounds = set(gatherer.lower_bounds)
    if uncounted:
        lower_bounds.update(("cluster.objects", "cluster.largest_resource_type_objects"))
    if PODS in {(r.group, r.plural) for r in types} and gatherer.counts.get(PODS) is None:
        lower_bounds.add("cluster.pods")
    if gatherer.errors.partial and any(e.get("resource") in ("pods", "persistentvolumeclaims")
                                       for e in gatherer.errors.entries):
        lower_bounds.add("namespaces")

    # Bytes actually protected (newest completed DataUpload/PodVolumeBackup per volume) beat PVC
    # capacity, which counts empty space; capacity is the fallback before the first backup.
    volumes_info: dict[str, t.Any] = {"pvcs": totals["pvcs"], "bound_pvcs": totals["bound_pvcs"],
                                      "bound_capacity_bytes": totals["bound_capacity_bytes"]}
    largest: tuple[str | None, int] | None
    if protected is not None and protected.volumes:
        volumes_info.update(source="protected", protected_bytes=protected.total_bytes(),
                            protected_volumes=protected.volumes)
        volume_bytes = protected.total_bytes()
        largest_repo = protected.largest_repository()
        largest = (largest_repo[0], largest_repo[1]) if largest_repo else None
    else:
        volumes_info["source"] = "pvc_capacity"
        volume_bytes = totals["bound_capacity_bytes"]
        biggest = gatherer.stats.largest(in_scope)
        default_bsl = velero.get("default_backup_storage_location")
        largest = None
        if biggest is not None:
            key = config_key(biggest[0], default_bsl, "kopia") if default_bsl else None
            largest = (key, biggest[1])
    backups_retained = None
    if protected is not None and protected.max_backups_per_repository():
        backups_retained = protected.max_backups_per_repository()
    elif backup_stats is not None and backup_stats.retained:
        backups_retained = backup_stats.retained
    data = facts.sizing_data(
        volume_bytes=volume_bytes,
        repositories=len(velero["repositories"]) if gatherer.repositories_known else None,
        largest=largest, backups_retained=backups_retained,
        backups_per_day=backup_stats.per_day() if backup_stats is not None else None)
    if gatherer.observations.index_blobs is not None:
        # kopia said so in a maintenance failure message: at least that many index blobs now.
        data["index_blobs"] = max(int(data.get("index_blobs") or 0), min(gatherer.observations.index_blobs, 10_000_000))

    namespaces_out = {ns: entry for ns, entry in sorted(gatherer.stats.by_namespace.items()) if in_scope(ns)}
    drift_list, recommendation_summary = _drift(velero, release, current, cluster, data, observed, request,
                                                gatherer.errors)
    drift_list += leftovers

    result = {
        "cluster": cluster,
        "data": data,
        "kubernetes": kubernetes_info,
        "scope": dict(scope.as_dict(), namespaces=len(gatherer.namespaces_in_scope),
                      active_namespaces=active_namespaces, skipped_resources=skipped,
                      uncounted_resources=uncounted),
        "resources": per_type,
        "namespaces": namespaces_out,
        "volumes": volumes_info,
        "velero": velero,
        "observed": observed,
        "nodes": nodes_info,
        "drift": drift_list,
        "recommendation": recommendation_summary,
        "partial": gatherer.errors.partial,
        "lower_bounds": sorted(lower_bounds),
        "errors": gatherer.errors.entries,
        "api_requests": {"total": client.request_count, "retries": client.retry_count,
                         "waited_seconds": round(client.slept_seconds, 3)},
    }
    return result


def _drift(velero: dict, release: t.Any, current: dict, cluster: dict, data: dict, observed: dict,
           request: FactsRequest, errors: _Errors) -> tuple[list[dict], dict | None]:
    findings = facts.client_flag_findings((velero.get("settings") or {}).get("flags") or {})
    entries, summary = _recommendation_drift(velero, release, current, cluster, data, observed, request, errors)
    return facts.flag_drift(findings, entries, summary, release), summary


def _recommendation_drift(velero: dict, release: t.Any, current: dict, cluster: dict, data: dict, observed: dict,
                          request: FactsRequest, errors: _Errors) -> tuple[list[dict], dict | None]:
    if release is None or not velero.get("version"):
        return [], None
    try:
        from ._recommend import recommend
    except ImportError as exc:  # the sizing model ships in the same collection; defensive only
        errors.note("drift", f"the sizing model is not available: {exc}")
        return [], None
    inputs: dict[str, t.Any] = {"velero_version": velero["version"], "cluster": cluster, "data": data}
    if _sizing_accepts("observed"):
        inputs["observed"] = observed
    if request.policy:
        inputs["policy"] = request.policy
    try:
        recommendation = recommend(inputs)
    except ValueError as exc:
        errors.note("drift", f"no recommendation for the measured inputs: {exc}")
        return [], None
    parts = ("server", "plugins", "maintenance", "repository", "node_agent", "warnings")
    summary = {key: recommendation.get(key) for key in parts}
    return facts.drift(current, recommendation), summary
