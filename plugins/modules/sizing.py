#!/usr/bin/python
# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: sizing
short_description: Recommend Velero client QPS/Burst and repository-maintenance resources
version_added: 0.1.0
description:
  - Computes, for the Velero version you run, the settings that decide backup speed and repository-maintenance
    stability, from the size of the cluster and of the backed-up data.
  - Server C(--client-qps)/C(--client-burst)/C(--client-page-size) sized so the modeled API phase of a whole-cluster
    backup meets a target time, never below Velero's own defaults and never above a fair share of the API server
    (APF priority level C(workload-low)).
  - Repository-maintenance memory from the number of kopia contents (small files, chunks of large files, directories)
    and the index-compaction backlog (index blobs), per kopia version bundled with each Velero release.
  - Every recommended value comes with a one-line explanation; every unknown input with a documented assumption.
    The formulas and their sources are in C(docs/sizing-model.md).
  - Changes nothing; runs anywhere (no cluster access). Use M(velero_ops.tuning.cluster_facts) to measure the inputs.
author:
  - velero_ops maintainers (@velero-ops)
extends_documentation_fragment:
  - velero_ops.tuning.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  velero_version:
    description:
      - Velero version, from C(1.12.0) to C(1.18.x), for example V(1.14.0) or V(v1.16.2).
      - Quote it in YAML. An unquoted C(1.14) is read as a float and rejected with a hint.
    type: raw
    required: true
  cluster:
    description:
      - Size of the cluster in backup scope. The keys are those of C(schemas/sizing-input.schema.json).
    type: dict
    required: true
    suboptions:
      namespaces:
        description: Namespaces in backup scope (a whole-cluster backup covers all of them), 1 to 100000.
        type: int
        required: true
      objects:
        description: Kubernetes API objects in backup scope, all resource types together, 0 to 100000000.
        type: int
        required: true
      resource_types:
        description: Served resource kinds, built-in and CRDs, that Velero lists, 1 to 20000.
        type: int
        required: true
      largest_resource_type_objects:
        description:
          - Objects of the most numerous resource type in backup scope (at most O(cluster.objects)), 0 to 100000000.
          - The server holds every listed item of one type at once, so this sizes its memory. Unknown means half of
            O(cluster.objects) for the expected peak and all of them for the limit.
        type: int
      namespaced_resource_types:
        description:
          - How many of O(cluster.resource_types) are namespaced (at most O(cluster.resource_types)).
          - Unknown means 75% of the kinds. Velero 1.18.1 lists each namespaced kind once per namespace.
        type: int
      api_groups:
        description:
          - Served API group-versions, 1 to 20000. Without aggregated discovery each one costs a discovery request.
          - Unknown means one per two resource kinds.
        type: int
      aggregated_discovery:
        description:
          - Whether the API server offers aggregated discovery (Kubernetes 1.27 and later). Unknown means V(true).
        type: bool
      nodes:
        description:
          - Nodes running the node-agent, 1 to 100000. With it, the explanation states the node-agent DaemonSet's
            total memory reservation.
        type: int
      node_memory:
        description:
          - Allocatable memory of the smallest node that runs the node-agent, a Kubernetes quantity such as V(64Gi) or
            whole bytes (1Gi to 64Ti).
          - A warning says when the node-agent's memory request, reserved on every node, exceeds 25% of it. Unknown
            means V(16Gi) for that check.
          - A maintenance Job whose memory limit exceeds it is capped or fails as O(policy.node_memory_policy) says;
            unknown means the Jobs are not checked against the nodes (an assumption says so).
        type: raw
      pods:
        description: Pods in backup scope, 0 to 10000000. Unknown means one pod per eight API objects.
        type: int
      volumes:
        description:
          - Persistent volume claims in backup scope (file-system or data-mover backups), 0 to 1000000.
          - Unknown means one per BackupRepository, or one per namespace.
        type: int
  data:
    description:
      - Size of the backed-up volume data and of the kopia repositories that hold it.
    type: dict
    required: true
    suboptions:
      volume_bytes:
        description:
          - Backed-up volume data of all repositories together, as whole bytes or a size string such as V(763GB),
            V(1.5Ti) or V(700Gi); at most 100 PiB.
        type: raw
        required: true
      files:
        description:
          - Files in the backed-up volumes, 0 to 100000000000.
          - Unknown means an average file size of 256 KiB, which errs towards more files and more memory.
        type: int
      repositories:
        description: BackupRepositories (about one per namespace with backed-up volumes), 0 to 1000000.
        type: int
      largest_repository_bytes:
        description:
          - Volume data in the largest repository (size like O(data.volume_bytes)), at most O(data.volume_bytes).
          - Unknown means the largest repository holds all the data.
        type: raw
      largest_repository_files:
        description:
          - Files in the largest repository, at most O(data.files).
          - Unknown with O(data.files) and O(data.largest_repository_bytes) known means at most O(data.files) and at
            most one file per 64 KiB of its bytes (a dense repository); often far fewer, so pass it.
        type: int
      largest_volume_bytes:
        description:
          - Volume data of the largest single backed-up volume (PVC), size like O(data.volume_bytes); at most
            O(data.largest_repository_bytes).
          - The node-agent and data-mover pods are sized for one volume at a time. Unknown means the largest
            repository is taken as one volume (an upper bound).
        type: raw
      largest_volume_files:
        description:
          - Files in the largest single backed-up volume (PVC), at most O(data.largest_repository_files).
          - Unknown means the files of the largest repository (an upper bound), or, when O(data.largest_volume_bytes)
            is given, at most those and one per 64 KiB of it (one per 256 KiB when neither O(data.files) nor
            O(data.largest_repository_files) is known).
        type: int
      largest_repository_key:
        description:
          - Maintenance ConfigMap key of the largest repository, C(<volumeNamespace>-<bsl>-<repositoryType>),
            for example V(prod-db-default-kopia).
          - When the largest repository dominates, it gets its own entry in RV(recommendation.maintenance.repositories)
            and the global entry is sized for the others. Without the key the global entry covers the largest.
        type: str
      index_blobs:
        description:
          - The N in kopia's C(Found too many index blobs (N)) warning of a maintenance Job, 0 to 10000000.
          - Unknown means a healthy steady state. Above 1000, compaction is backlogged and maintenance is sized to
            compact the whole retained index.
        type: int
      backups_retained:
        description: Backups kept per repository, 1 to 100000. Unknown means 30 days (Velero's default TTL 720h).
        type: int
      backups_per_day:
        description: Backups per day, greater than 0 and at most 1440. Unknown means V(1).
        type: float
  policy:
    description:
      - Caps and targets. Every key is optional.
    type: dict
    suboptions:
      max_client_qps:
        description:
          - Never recommend a client QPS above this, even below Velero's default (a warning says so).
        type: float
      target_api_seconds:
        description:
          - Target, in seconds, for the modeled API phase of a whole-cluster backup (1 to 86400). Default V(60).
        type: float
      max_maintenance_memory:
        description:
          - Cap for the maintenance memory limit, a Kubernetes quantity such as V(8Gi) or whole bytes (64Mi to 4Ti).
          - A warning names the modeled peak when the cap is below it.
        type: raw
      apf_share:
        description:
          - Share of the API Priority and Fairness priority level C(workload-low) Velero may occupy, greater than 0
            and at most 1. Default V(0.25).
        type: float
      apiserver_concurrency:
        description:
          - The API server's concurrency limit, C(--max-requests-inflight) + C(--max-mutating-requests-inflight).
            Default V(600), kube-apiserver's 400 + 200. Managed control planes may differ.
        type: int
      node_memory_policy:
        description:
          - What to do when a maintenance Job's memory limit exceeds O(cluster.node_memory), so that no node could
            hold it. V(cap) (default) caps the limit at the node's allocatable memory and warns (the Job may be
            OOMKilled); V(fail) fails the task. Either way a warning names the fixes (a node pool for maintenance via
            the maintenance ConfigMap's C(loadAffinity), fewer contents per repository, more frequent maintenance).
        type: str
        choices: [cap, fail]
  observed:
    description:
      - What this cluster has already shown; C(cluster_facts) returns RV(velero_ops.tuning.cluster_facts#module:observed)
        in this shape. Every key is optional; V(null) means not observed.
      - A recommendation is never at or below a limit that was OOMKilled (at least 1.5 times it, the maintenance
        ladder's step) and never below an observed peak times 2 (a sampled use is not the peak; GOGC=100 headroom).
        RV(recommendation.explanations) name the observation that raised a value.
    type: dict
    suboptions:
      maintenance_oom_limit:
        description: Highest memory limit at which a maintenance Job pod was OOMKilled, a quantity such as V(512Mi).
        type: raw
      server_oom_limit:
        description: Highest memory limit at which the velero server container was OOMKilled.
        type: raw
      node_agent_oom_limit:
        description: Highest memory limit at which a node-agent container was OOMKilled.
        type: raw
      server_peak_memory:
        description: Highest memory use of the velero server seen, for example from the metrics API.
        type: raw
      maintenance_peak_memory:
        description: Highest memory use of a maintenance Job pod seen.
        type: raw
      maintenance_failures:
        description: Failed maintenance runs in the BackupRepositories' C(status.recentMaintenance).
        type: int
      evidence:
        description: Where each figure came from; echoed in explanations and the report, not used in arithmetic.
        type: list
        elements: str
notes:
  - The model is documented, with the source of every constant, in C(docs/sizing-model.md) in the collection.
  - The same computation is available to other plugins as C(recommend()) in C(plugins/module_utils/_recommend.py).
seealso:
  - name: Velero repository maintenance
    description: How Velero runs kopia maintenance and where its resources are configured.
    link: https://velero.io/docs/main/repository-maintenance/
"""

EXAMPLES = r"""
- name: Size Velero 1.14 with a backlogged 763 GB repository
  velero_ops.tuning.sizing:
    velero_version: "1.14.0"
    cluster:
      namespaces: 40
      objects: 12000
      resource_types: 150
    data:
      volume_bytes: 763GB
      repositories: 1
      index_blobs: 2438
  register: velero_sizing

- name: Show the maintenance memory and why
  ansible.builtin.debug:
    msg:
      - "{{ velero_sizing.recommendation.maintenance.pod_resources }}"
      - "{{ velero_sizing.recommendation.explanations['maintenance.pod_resources.memoryLimit'] }}"

- name: Size a large 1.16 cluster, capping QPS and maintenance memory
  velero_ops.tuning.sizing:
    velero_version: "1.16.1"
    cluster:
      namespaces: 1200
      objects: 400000
      resource_types: 260
      nodes: 60
    data:
      volume_bytes: 40Ti
      files: 90000000
      repositories: 300
      largest_repository_bytes: 6Ti
      largest_repository_files: 30000000
      largest_repository_key: analytics-default-kopia
    policy:
      max_client_qps: 400
      target_api_seconds: 120
      max_maintenance_memory: 24Gi
  register: velero_sizing
"""

RETURN = r"""
recommendation:
  description:
    - The recommendation. Its shape is C(schemas/recommendation.schema.json); the keys below are a stable contract.
  returned: success
  type: dict
  contains:
    velero_version:
      description: The Velero version the recommendation is for, normalised (no C(v) prefix).
      type: str
      sample: "1.14.0"
    server:
      description: Velero server settings.
      type: dict
      contains:
        client_qps:
          description: C(--client-qps).
          type: float
          sample: 240.0
        client_burst:
          description: C(--client-burst), never below O(cluster) QPS.
          type: int
          sample: 360
        client_page_size:
          description: C(--client-page-size).
          type: int
          sample: 500
        resources:
          description: Requests and limits of the velero Deployment, quantity strings.
          type: dict
          sample: {"requests": {"cpu": "600m", "memory": "192Mi"}, "limits": {"cpu": "1200m", "memory": "576Mi"}}
    plugins:
      description: How plugin processes talk to the API server.
      type: dict
      contains:
        inherit_server_flags:
          description: Whether plugins receive the server's QPS/burst (Velero 1.15 and later).
          type: bool
          sample: false
        effective_client_qps:
          description: QPS plugins really use (client-go's 5 before 1.15).
          type: float
          sample: 5.0
        effective_client_burst:
          description: Burst plugins really use (client-go's 10 before 1.15).
          type: int
          sample: 10
    maintenance:
      description: Repository maintenance settings.
      type: dict
      contains:
        mechanism:
          description:
            - Where the settings go. V(in-server) (1.12, 1.13, the server's own resources), V(server-flags) (1.14,
              C(--maintenance-job-*) flags), V(configmap) (1.15 and later, C(--repo-maintenance-job-configmap)).
          type: str
          sample: server-flags
        pod_resources:
          description:
            - C(podResources) of the global entry, always all four of C(cpuRequest), C(cpuLimit), C(memoryRequest),
              C(memoryLimit) (V(0) means unbounded); C(ephemeralStorageRequest) and C(ephemeralStorageLimit) from
              Velero 1.18.1.
          type: dict
          sample: {"cpuRequest": "1", "cpuLimit": "2", "memoryRequest": "4608Mi", "memoryLimit": "6656Mi"}
        keep_latest_jobs:
          description: Finished maintenance Jobs to keep per repository.
          type: int
          sample: 3
        frequency:
          description: Maintenance frequency as a Go duration (BackupRepository C(maintenanceFrequency)).
          type: str
          sample: 1h
        repositories:
          description: Per-repository entries keyed C(<volumeNamespace>-<bsl>-<repositoryType>), each with C(pod_resources).
          type: dict
          sample: {}
    repository:
      description: Backup-repository ConfigMap values (C(null) means leave Velero's default).
      type: dict
      contains:
        cache_limit_mb:
          description: C(cacheLimitMB) (Velero 1.15 and later).
          type: int
          sample: null
        full_maintenance_interval:
          description: C(fullMaintenanceInterval), V(normalGC), V(fastGC) or V(eagerGC) (Velero 1.16 and later).
          type: str
          sample: fastGC
    node_agent:
      description: Node-agent settings (C(null) means leave as is).
      type: dict
      contains:
        resources:
          description: Requests and limits of the node-agent DaemonSet.
          type: dict
          sample: null
        pod_resources:
          description: C(podResources) of data-mover pods (node-agent ConfigMap, Velero 1.15 and later).
          type: dict
          sample: null
        load_concurrency:
          description: C(loadConcurrency.globalConfig) of the node-agent ConfigMap (Velero 1.13 and later).
          type: int
          sample: null
    velero_defaults:
      description: Velero's own value for each recommended setting, keyed by the same dotted path.
      type: dict
      sample: {"server.client_qps": 100.0, "server.client_burst": 100}
    explanations:
      description: One line per recommended value, keyed by its dotted path, naming the inputs and the rule.
      type: dict
      sample: {"server.client_burst": "burst = 1.5 x QPS 240, at least Velero's default 100 once QPS is raised."}
    assumptions:
      description: The assumption made for every input that was not given.
      type: list
      elements: str
      sample: ["data.files unknown: average file size 256Ki assumed (2910615 files for 710.6Gi)."]
    warnings:
      description: What needs attention, for example plugins stuck at 5 QPS before Velero 1.15.
      type: list
      elements: str
    predicted:
      description: Modeled effects of the recommendation.
      type: dict
      contains:
        api_requests:
          description: API requests of a whole-cluster backup, with that version's listing behaviour.
          type: int
          sample: 1609
        throttle_seconds_default:
          description: Client-side throttling of the server with Velero's default QPS/burst, in seconds.
          type: float
          sample: 13.46
        throttle_seconds_recommended:
          description: Client-side throttling of the server with the recommendation, in seconds.
          type: float
          sample: 13.46
        plugin_throttle_seconds:
          description: Client-side throttling of plugins at their effective QPS/burst, in seconds.
          type: float
          sample: 26.8
        maintenance_peak_memory_bytes:
          description: Modeled peak memory of maintenance of the largest repository, in bytes.
          type: int
          sample: 8321643801
        maintenance_peak_memory:
          description: The same, readable.
          type: str
          sample: 4.2Gi
        maintenance_peak_memory_range:
          description:
            - Low, expected and high modeled peak of the largest repository's maintenance, in bytes. The maintenance
              memory limits are set at the high end; the explanation names the assumed inputs that widened it.
          type: dict
          sample: {"low": 3411343766, "expected": 4548458354, "high": 6822687531}
        server_peak_memory_range:
          description:
            - Low, expected and high modeled peak of the velero server during a backup (with repository connections
              on Velero 1.14-1.17, maintenance inside the server on 1.12 and 1.13), in bytes. The server limit is at
              the high end.
          type: dict
          sample: {"low": 174391296, "expected": 1400878080, "high": 1987874816}
        api_time_curve:
          description: Modeled API time of a whole-cluster backup over a range of QPS, for a chart.
          type: list
          elements: dict
          sample: [{"qps": 100.0, "burst": 100, "seconds": 43.48}, {"qps": 200.0, "burst": 300, "seconds": 35.75}]
    observed:
      description:
        - The O(observed) input as the model used it, sizes in bytes, unobserved keys left out; reports show it next
          to the recommended values.
      type: dict
      sample: {"maintenance_oom_limit": 536870912, "evidence": ["pod velero/repo-maintain-1 OOMKilled, limit 512Mi"]}
"""

from ansible.module_utils import basic
from ansible.module_utils.basic import AnsibleModule

from ansible_collections.velero_ops.tuning.plugins.module_utils._recommend import recommend
from ansible_collections.velero_ops.tuning.plugins.module_utils._sizing_inputs import (
    FIELDS,
    TOP_LEVEL,
    argument_spec,
    section_shape_problem,
)


def main() -> None:
    # ansible-core's argument validation crashes on a section that is a list or a number where a dict with options
    # is expected ("argument of type 'int' is not iterable"), so check the sections' shape first, on the raw
    # parameters (basic._load_params, a private ansible-core helper that AnsibleModule itself uses).
    names = list(TOP_LEVEL) + list(FIELDS)
    problem = section_shape_problem(basic._load_params() or {})
    if problem:
        raw = AnsibleModule(argument_spec={name: {"type": "raw"} for name in names}, supports_check_mode=True)
        raw.fail_json(msg=problem)
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    # Options Ansible filled with None reach the model as they are: it treats None as unknown.
    inputs = {key: module.params[key] for key in names}
    try:
        recommendation = recommend(inputs)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, recommendation=recommendation)


if __name__ == "__main__":
    main()
