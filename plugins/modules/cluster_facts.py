#!/usr/bin/python
# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: cluster_facts
short_description: Measure cluster size, data volume and Velero's current settings from a live cluster
version_added: 0.1.0
description:
  - Reads a cluster through the Kubernetes API (read-only) and returns the sizing inputs of
    M(velero_ops.tuning.sizing) measured instead of estimated by hand, so RV(cluster) and RV(data) can be
    passed to it, or to C(playbooks/tune.yml) with C(velero_live_facts=true), unchanged.
  - "Backup scope: the resource types a Velero backup lists, found the way Velero finds them (preferred version
    per resource, types that support C(list), C(create), C(get) and C(delete), cohabiting types such as
    C(events) and C(events.events.k8s.io) counted once, cluster-scoped types only when every namespace is
    included), restricted by O(include_namespaces), O(exclude_namespaces), O(exclude_resources) and
    O(include_cluster_resources). The default is a whole-cluster backup."
  - "Counting never downloads whole objects: metadata-only (C(PartialObjectMetadataList)) lists with C(limit) and
    C(continue); one request per resource type when the API server returns C(metadata.remainingItemCount).
    Whole objects are read only where the needed field is not in the metadata: namespaces (phase),
    PersistentVolumeClaims (bound capacity) and Velero's own objects in O(velero_namespace)."
  - "Velero itself, in O(velero_namespace): version from the server image, the server Deployment (and whether it
    is named C(velero), which Velero 1.14+ needs for maintenance Jobs), client QPS, burst and page size, maintenance
    settings from server flags and the maintenance ConfigMap, the backup-repository and node-agent ConfigMaps,
    BackupStorageLocations, BackupRepositories with C(lastMaintenanceTime) and failed C(recentMaintenance)
    entries, retained backups and the bytes actually protected (newest completed DataUpload or PodVolumeBackup
    C(status.progress.totalBytes) per volume)."
  - "Drift: when the Velero version is known, the measured inputs are sized with the collection's model and every
    setting whose current value differs from the recommendation is listed in RV(drift)."
  - "Permissions: C(docs/rbac/cluster-facts-clusterrole.yaml) is a read-only ClusterRole with what this module
    needs. A 403 on one resource type or Velero object is reported in RV(errors) with the missing permission, the
    run continues and RV(partial) is V(true)."
  - "Faults: connection errors, timeouts, HTTP 429 and 5xx are retried O(max_retries) times, waiting as long as
    C(Retry-After) asks (capped at 60 seconds) or with exponential backoff, never past O(timeout). A resource type
    that still answers 429 or 5xx (for example a CRD whose conversion webhook is down) is reported in RV(errors)
    like a 403 and the facts are RV(partial); an unreachable API server, 401 or the O(timeout) fail the module with
    a message naming the request."
  - "Hostile answers: a list that hands back a C(continue) token it already gave, or needs more pages than the
    largest object count the sizing model accepts (100,000,000 objects), stops with an error naming the resource.
    An object with a wrong JSON type where the module reads a field is reported in RV(errors) with its kind, name
    and field, and skipped."
  - "Observed: RV(observed) is what the cluster itself says about Velero's memory (OOMKilled containers of the
    server, node-agent and maintenance Jobs with their memory limits, maintenance failures of BackupRepositories,
    current memory use from C(metrics.k8s.io) when it is served). It has the shape of the
    C(observed) input of M(velero_ops.tuning.sizing)."
author:
  - velero_ops maintainers (@velero-ops)
extends_documentation_fragment:
  - velero_ops.tuning.attributes
  - velero_ops.tuning.k8s_auth
attributes:
  check_mode:
    support: full
    details:
      - The module only reads; check mode returns the same facts.
  diff_mode:
    support: none
  idempotent:
    support: full
    details:
      - Never changes anything, so a task using it never reports a change.
options:
  velero_namespace:
    description: Namespace where Velero runs (server Deployment, node-agent, ConfigMaps and Velero custom resources).
    type: str
    default: velero
    aliases: [namespace]
  include_namespaces:
    description:
      - Namespaces in the backup scope, as in C(velero backup create --include-namespaces). Shell-style
        wildcards are allowed. Only Active namespaces count.
    type: list
    elements: str
    default: ['*']
  exclude_namespaces:
    description: Namespaces left out of the backup scope (wildcards allowed).
    type: list
    elements: str
    default: []
  exclude_resources:
    description:
      - Resource types left out, as in C(velero backup create --exclude-resources), for example V(events),
        V(events.events.k8s.io), V(secrets) or V(*.cert-manager.io).
      - A bare name matches the plural, singular, kind or short name in any API group.
    type: list
    elements: str
    default: []
  include_cluster_resources:
    description:
      - Whether cluster-scoped types are in scope, as C(--include-cluster-resources). Unset means Velero's
        automatic rule, true only when every namespace is included.
    type: bool
  velero_version:
    description:
      - Velero version to use for Velero's defaults and for RV(drift) when the server image has no version tag
        (for example a mirrored image tagged C(latest)). Overrides the version read from the image.
      - Must be a supported version (1.12.0 to 1.18.x, for example V(1.16.2) or V(v1.16.2)); an empty string is the
        same as not setting it; anything else fails the task before any request. An image tag the module does not
        recognise only makes the facts RV(partial).
    type: str
  policy:
    description:
      - Sizing policy passed to the model when computing RV(drift), same keys as the O(velero_ops.tuning.sizing#module:policy)
        option of M(velero_ops.tuning.sizing).
    type: dict
  page_size:
    description: C(limit) of every list request.
    type: int
    default: 500
  max_retries:
    description: Retries of one request after a connection error, timeout, 429 or 5xx answer.
    type: int
    default: 5
  request_timeout:
    description: Seconds to wait for one answer of the API server.
    type: float
    default: 30
  timeout:
    description:
      - Overall deadline of the run, in seconds. Requests, retries and C(Retry-After) waits never go past it; when
        it passes the module fails naming the request it was on. V(0) means no deadline.
    type: float
    default: 600
notes:
  - The number of requests grows with resource types and list pages, never with individual objects, and the
    module's memory does not grow with the object count (see C(benchmarks/RESULTS.md)).
  - Counts are a snapshot; objects labelled C(velero.io/exclude-from-backup=true) are counted although Velero
    skips them.
seealso:
  - module: velero_ops.tuning.sizing
  - name: Read-only ClusterRole and how the facts are gathered
    description: C(docs/cluster-facts.md) and C(docs/rbac/cluster-facts-clusterrole.yaml) in the collection.
    link: https://example.invalid/velero_ops/tuning/-/tree/main/docs/cluster-facts.md
"""

EXAMPLES = r"""
- name: Measure the cluster of the current kubeconfig context
  velero_ops.tuning.cluster_facts:
  register: facts

- name: Size Velero from what was measured
  velero_ops.tuning.sizing:
    velero_version: "{{ facts.velero.version }}"
    cluster: "{{ facts.cluster }}"
    data: "{{ facts.data }}"
  register: sizing

- name: Measure a scope that leaves out events and two namespaces, through a given context
  velero_ops.tuning.cluster_facts:
    kubeconfig: ~/.kube/prod.yaml
    context: prod-eu-1
    velero_namespace: backup
    exclude_namespaces: [kube-system, scratch-*]
    exclude_resources: [events, events.events.k8s.io]
  register: prod

- name: Show settings that differ from the recommendation
  ansible.builtin.debug:
    msg: "{{ item.setting }}: {{ item.current }} -> {{ item.recommended }}"
  loop: "{{ prod.drift }}"

- name: Fail when some facts could not be read
  ansible.builtin.assert:
    that: not prod.partial
    fail_msg: "{{ prod.errors | map(attribute='message') | list }}"
"""

RETURN = r"""
cluster:
  description:
    - Cluster size in the backup scope, shaped exactly as the O(velero_ops.tuning.sizing#module:cluster) input.
    - Keys whose value is unknown (for example C(nodes) without permission) are left out.
  returned: success
  type: dict
  contains:
    namespaces:
      description: Active namespaces in scope.
      type: int
      sample: 212
    objects:
      description: Objects of every resource type in scope, namespaces included (a lower bound when RV(partial)).
      type: int
      sample: 48210
    resource_types:
      description: Resource types a backup with this scope lists.
      type: int
      sample: 96
    namespaced_resource_types:
      description: How many of C(resource_types) are namespaced.
      type: int
      sample: 71
    api_groups:
      description: Served API group-versions.
      type: int
      sample: 64
    aggregated_discovery:
      description: Whether the API server serves aggregated discovery.
      type: bool
      sample: true
    nodes:
      description: Nodes in the cluster.
      type: int
      sample: 18
    pods:
      description: Pods in scope (0 when O(exclude_resources) excludes pods).
      type: int
      sample: 3120
    volumes:
      description: PersistentVolumeClaims in scope.
      type: int
      sample: 240
    node_memory:
      description:
        - Allocatable memory of the smallest node that runs a node-agent pod (of every schedulable node when no
          node-agent pod runs), as a Kubernetes quantity. Left out when unknown or below 1Gi (see RV(nodes)).
      type: str
      sample: 16Gi
    largest_resource_type_objects:
      description:
        - Objects of the most numerous resource type in scope (a lower bound when RV(partial)). Returned only when
          the sizing model of this collection accepts it.
      type: int
      sample: 21034
data:
  description:
    - Data volume, shaped exactly as the O(velero_ops.tuning.sizing#module:data) input. Unknown keys are left out.
  returned: success
  type: dict
  contains:
    volume_bytes:
      description:
        - Sum of the newest completed DataUpload/PodVolumeBackup C(status.progress.totalBytes) per volume when
          Velero has backed volumes up, otherwise the bound PVC capacity in scope (see RV(volumes.source)).
      type: int
      sample: 819496960000
    repositories:
      description: BackupRepositories in O(velero_namespace).
      type: int
      sample: 14
    largest_repository_bytes:
      description: Bytes of the largest repository (or of the namespace with the most bound capacity).
      type: int
      sample: 751619276800
    largest_repository_key:
      description: Its maintenance ConfigMap key, C(<volumeNamespace>-<bsl>-<repositoryType>).
      type: str
      sample: shop-default-kopia
    backups_retained:
      description: The most backups referencing one repository, else the Completed/PartiallyFailed backups kept.
      type: int
      sample: 30
    backups_per_day:
      description: Completed backups per day over the last 7 days.
      type: float
      sample: 1.0
    index_blobs:
      description:
        - The highest N of kopia's "Found too many index blobs (N)" in a BackupRepository's maintenance messages
          (present only when one says so).
      type: int
      sample: 23456
kubernetes:
  description: API server facts.
  returned: success
  type: dict
  contains:
    version:
      description: C(gitVersion) of the API server.
      type: str
      sample: v1.31.0
    aggregated_discovery:
      description: Whether the API server served aggregated discovery.
      type: bool
    group_versions:
      description: Served API group-versions.
      type: int
    resource_types_served:
      description: Resource types served (preferred versions, no subresources).
      type: int
scope:
  description: The backup scope that was measured, and which resource types were left out and why.
  returned: success
  type: dict
  sample:
    include_namespaces: ['*']
    exclude_namespaces: []
    exclude_resources: []
    include_cluster_resources: null
    cluster_resources_included: true
    whole_cluster: true
    namespaces: 212
    active_namespaces: 212
    skipped_resources:
      - resource: events.events.k8s.io
        api_version: events.k8s.io/v1
        reason: same objects as another group's events (listed once)
    uncounted_resources: []
resources:
  description: Objects per resource type in scope (C(objects) is null when the type could not be counted).
  returned: success
  type: list
  elements: dict
  sample:
    - resource: deployments.apps
      api_version: apps/v1
      kind: Deployment
      namespaced: true
      objects: 412
namespaces:
  description: Pods, PVCs, bound PVCs and bound capacity (bytes) per namespace in scope.
  returned: success
  type: dict
  sample:
    shop:
      pods: 42
      pvcs: 3
      bound_pvcs: 3
      bound_capacity_bytes: 751619276800
volumes:
  description: PVC totals in scope and where RV(data.volume_bytes) comes from.
  returned: success
  type: dict
  contains:
    pvcs:
      description: PersistentVolumeClaims in scope.
      type: int
      sample: 240
    bound_pvcs:
      description: Bound PersistentVolumeClaims in scope.
      type: int
      sample: 236
    bound_capacity_bytes:
      description: Sum of C(status.capacity.storage) of the bound claims.
      type: int
      sample: 2199023255552
    source:
      description: V(protected) (bytes Velero backed up) or V(pvc_capacity) (no data-mover or file-system backup yet).
      type: str
      sample: protected
    protected_bytes:
      description: Bytes protected (present when RV(volumes.source) is V(protected)).
      type: int
      sample: 819496960000
    protected_volumes:
      description: Volumes with a completed DataUpload or PodVolumeBackup.
      type: int
      sample: 180
velero:
  description:
    - Velero's state in O(velero_namespace). C(version) is null when no server Deployment was found or its image
      has no version tag.
    - C(settings) holds the current values (explicit or Velero's default for the version) and C(settings.sources)
      where each comes from; C(settings.flags) are the server's command-line flags.
  returned: success
  type: dict
  sample:
    namespace: velero
    installed: true
    version: 1.14.0
    image: velero/velero:v1.14.0
    deployment:
      name: velero
      named_velero: true
      replicas: 1
      container: velero
      resources: {requests: {cpu: 500m, memory: 128Mi}, limits: {cpu: "1", memory: 512Mi}}
    settings:
      client_qps: 100.0
      client_burst: 100
      client_page_size: 500
      maintenance_frequency: 1h
      keep_latest_maintenance_jobs: 3
      maintenance_pod_resources: {cpuRequest: "0", cpuLimit: "0", memoryRequest: "0", memoryLimit: "0"}
    backup_storage_locations:
      - {name: default, provider: aws, default: true, access_mode: ReadWrite, phase: Available}
    repositories:
      - name: shop-default-kopia
        key: shop-default-kopia
        phase: Ready
        last_maintenance_time: "2024-05-01T10:00:00Z"
        recent_failures: 1
        last_failure_message: Repo maintenance failed but result is not retrieveable
    backups: {total: 31, retained: 30, by_phase: {Completed: 30, Failed: 1}, per_day: 1.0, schedules: [daily]}
    warnings: []
observed:
  description:
    - What the cluster itself says about Velero's memory, shaped as the C(observed)
      input of M(velero_ops.tuning.sizing). Size strings are Kubernetes quantities; null means nothing was observed.
    - C(*_oom_limit) is the highest memory limit at which a container of that role was OOMKilled
      (C(status.containerStatuses[].state) or C(lastState) C(terminated.reason) C(OOMKilled)) among the pods in
      O(velero_namespace); maintenance Job pods are those Velero keeps (C(keepLatestMaintenanceJobs)).
    - C(*_peak_memory) is the current memory use from C(metrics.k8s.io), a lower bound of the peak; null when the
      metrics API is not served (not an error).
    - C(maintenance_failures) counts failed C(status.recentMaintenance) entries (Velero 1.16+ keeps the last 3 per
      repository); null when no repository reports them.
    - C(evidence) says where each figure came from (pod, container, time), plus restart counts.
  returned: success
  type: dict
  sample:
    maintenance_oom_limit: 2Gi
    server_oom_limit: 512Mi
    node_agent_oom_limit: null
    server_peak_memory: 402Mi
    maintenance_peak_memory: null
    maintenance_failures: 2
    evidence:
      - "maintenance Job OOMKilled at memory limit 2Gi: pod shop-default-kopia-maintain-job-1733000000001-x1y2z
        container velero-repo-maintenance-container (state.terminated.reason OOMKilled at 2026-12-01T03:00:00Z)"
      - Velero server pod velero-7d9f-abcde container velero restarted 3 time(s)
      - "metrics.k8s.io is not served: no current memory use of Velero's pods"
nodes:
  description: Node count and the smallest allocatable memory behind RV(cluster.node_memory), with which nodes were
    compared.
  returned: success
  type: dict
  sample: {count: 18, smallest_allocatable_memory: 16Gi, memory_source: nodes running the node-agent}
drift:
  description:
    - Settings whose current value differs from the recommendation for the measured inputs; empty when the Velero
      version is unknown. C(setting) is the recommendation's dotted path.
    - A C(--client-qps)/C(--client-burst) value Velero refuses at start (qps below 0, burst 0 or less, not a number)
      or reads differently (0, or so large it removes the limit) is listed even without a Velero version, with
      C(note) saying what Velero does and C(refused_by_velero).
    - A BackupRepository still carrying a C(velero-ops.tuning/restore-*) annotation (a
      M(velero_ops.tuning.repo_maintenance) run was interrupted before it restored C(spec.maintenanceFrequency) or
      C(status.lastMaintenanceTime)) is listed as C(backup_repositories.<name>.maintenance_frequency) (or
      C(.last_maintenance_time)) with the original as C(recommended).
  returned: success
  type: list
  elements: dict
  sample:
    - setting: server.client_qps
      current: 100.0
      recommended: 200.0
      velero_default: 100.0
      source: Velero default
      explanation: 48210 objects in 96 types ...
recommendation:
  description: The main parts of the recommendation RV(drift) was computed from (null without a Velero version).
  returned: success
  type: dict
partial:
  description: Whether some facts could not be read (see RV(errors)); counts are then lower bounds.
  returned: always
  type: bool
lower_bounds:
  description: Returned figures that are lower bounds because something they count could not be read.
  returned: success
  type: list
  elements: str
  sample: [cluster.objects, cluster.largest_resource_type_objects]
errors:
  description:
    - What could not be read. For HTTP 403 C(missing_permission) names the verb, API group, resource and namespace.
  returned: always
  type: list
  elements: dict
  sample:
    - what: count persistentvolumes at the cluster scope
      status: 403
      message: 'forbidden: missing permission to list persistentvolumes (API group "") at the cluster scope'
      missing_permission: {verb: list, api_group: "", resource: persistentvolumes, namespace: null}
api_requests:
  description: HTTP requests sent (retries included), retries, and seconds spent waiting before retries.
  returned: success
  type: dict
  sample: {total: 131, retries: 0, waited_seconds: 0.0}
"""

import typing as t

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.velero_ops.tuning.plugins.module_utils import _kube, _kube_errors
from ansible_collections.velero_ops.tuning.plugins.module_utils._cluster_facts import Scope
from ansible_collections.velero_ops.tuning.plugins.module_utils._facts_gather import FactsError, FactsRequest, gather
from ansible_collections.velero_ops.tuning.plugins.module_utils._kube_args import HideKubeconfigSecrets, auth_argspec


def argument_spec() -> dict[str, t.Any]:
    spec = auth_argspec()
    spec.update(
        velero_namespace={"type": "str", "default": "velero", "aliases": ["namespace"]},
        include_namespaces={"type": "list", "elements": "str", "default": ["*"]},
        exclude_namespaces={"type": "list", "elements": "str", "default": []},
        exclude_resources={"type": "list", "elements": "str", "default": []},
        include_cluster_resources={"type": "bool"},
        velero_version={"type": "str"},
        policy={"type": "dict"},
        page_size={"type": "int", "default": 500},
        max_retries={"type": "int", "default": 5},
        request_timeout={"type": "float", "default": 30},
        timeout={"type": "float", "default": 600},
    )
    return spec


class _Module(HideKubeconfigSecrets, AnsibleModule):
    """AnsibleModule that hides the credentials of a kubeconfig mapping (only those) from every output."""


def main() -> None:
    module = _Module(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    if not _kube.HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=_kube.KUBERNETES_IMPORT_ERROR)
    if params["page_size"] < 1:
        module.fail_json(msg=f"page_size: expected an integer of at least 1, got {params['page_size']}")
    if params["timeout"] < 0:
        module.fail_json(msg=f"timeout: expected seconds >= 0 (0: no deadline), got {params['timeout']:g}")
    try:
        scope = Scope.from_options(params["include_namespaces"], params["exclude_namespaces"],
                                   params["exclude_resources"], params["include_cluster_resources"])
        request = FactsRequest(scope=scope, velero_namespace=params["velero_namespace"],
                               page_size=params["page_size"], velero_version=params["velero_version"],
                               policy=params["policy"])
        client = _kube.KubeClient(_kube.ConnectionOptions.from_params(params), max_retries=params["max_retries"],
                                  request_timeout=params["request_timeout"], deadline=params["timeout"] or None)
    except ValueError as exc:  # KubeConfigError is a ValueError too
        module.fail_json(msg=str(exc))
    try:
        result = gather(client, request)
    except _kube_errors.KubeForbidden as exc:
        module.fail_json(msg=str(exc), missing_permission=exc.permission, api_requests=client.request_count)
    except (_kube_errors.KubeAPIError, FactsError) as exc:
        module.fail_json(msg=str(exc), api_requests=client.request_count)
    finally:
        client.close()
    for warning in result["velero"].get("warnings") or []:
        module.warn(warning)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
