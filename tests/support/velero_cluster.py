# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A small, fully known cluster with Velero installed, on the loopback API test server.

Numbers are chosen so tests can state expectations by hand (see ``SCENARIO``).
"""

from __future__ import annotations

import calendar
import json
import time
import typing as t

from support.kube_api_server import KubeAPITestServer

GiB = 2**30
GB = 10**9

SCENARIO = {
    "namespaces": ["velero", "kube-system", "shop", "wiki", "scratch"],  # + "leaving" (Terminating)
    "pods": {"velero": 3, "kube-system": 20, "shop": 40, "wiki": 10, "scratch": 0},
    "configmaps": {"velero": 0, "kube-system": 12, "shop": 30, "wiki": 30, "scratch": 1},  # + 3 real in velero
    "secrets": {"velero": 2, "kube-system": 5, "shop": 5, "wiki": 5, "scratch": 0},
    "pvcs": {"shop": [("db", "Bound", "100Gi"), ("cache", "Bound", "10Gi"), ("spare", "Pending", None)],
             "wiki": [("data", "Bound", "20Gi")]},
    "persistentvolumes": 3,
    "nodes": 3,
    "protected": {"shop/db": 60 * GB, "shop/cache": 5 * GB, "wiki/data": 12 * GB},
}


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def populate(server: KubeAPITestServer, *, velero_version: str = "1.16.0", deployment_name: str = "velero",
             server_args: t.Sequence[str] | None = None, now: float | None = None, events_k8s_io: bool = True) -> dict:
    """Fill ``server`` with SCENARIO and Velero ``velero_version``. Returns facts tests compare against."""
    now = time.time() if now is None else now
    server.register_velero_crds()
    if events_k8s_io:
        server.register_resource("events.k8s.io", "v1", "Event", "events", True, short_names=("ev",))
    for name in SCENARIO["namespaces"]:
        server.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    server.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "leaving"},
                "status": {"phase": "Terminating"}})
    for kind, table in (("Pod", SCENARIO["pods"]), ("ConfigMap", SCENARIO["configmaps"]),
                        ("Secret", SCENARIO["secrets"])):
        for namespace, count in table.items():
            if count:
                server.add_synthetic("v1", kind, namespace, count)
    server.add_synthetic("v1", "Pod", "leaving", 4)  # not active: out of every scope
    for namespace, claims in SCENARIO["pvcs"].items():
        for name, phase, size in claims:
            status: dict[str, t.Any] = {"phase": phase}
            if size:
                status["capacity"] = {"storage": size}
            server.put({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                        "metadata": {"name": name, "namespace": namespace},
                        "spec": {"resources": {"requests": {"storage": size or "1Gi"}}}, "status": status})
    server.add_synthetic("v1", "PersistentVolume", None, SCENARIO["persistentvolumes"])
    server.add_synthetic("v1", "Node", None, SCENARIO["nodes"])
    server.add_synthetic("v1", "Event", "shop", 7)

    minor = int(velero_version.split(".")[1])
    args = ["server", "--uploader-type=kopia", "--client-qps=40", "--client-burst=60"]
    if minor >= 15:
        args += ["--repo-maintenance-job-configmap=velero-repo-maintenance",
                 "--backup-repository-configmap=velero-backup-repository"]
    if minor in (14, 15, 16):
        args += ["--keep-latest-maintenance-jobs=2", "--maintenance-job-mem-limit=1Gi"]
    server.put({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": deployment_name, "namespace": "velero"},
                "spec": {"replicas": 1, "template": {"spec": {"containers": [{
                    "name": "velero", "image": f"velero/velero:v{velero_version}", "command": ["/velero"],
                    "args": list(server_args) if server_args is not None else args,
                    "resources": {"requests": {"cpu": "500m", "memory": "128Mi"},
                                  "limits": {"cpu": "1", "memory": "512Mi"}}}]}}}})
    server.put({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
                "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}})
    server.put({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "node-agent", "namespace": "velero"},
                "spec": {"template": {"spec": {"containers": [{
                    "name": "node-agent", "image": f"velero/velero:v{velero_version}", "command": ["/velero"],
                    "args": ["node-agent", "server", "--node-agent-configmap=node-agent-config"],
                    "resources": {}}]}}}})
    server.put({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "velero-repo-maintenance",
                                                                      "namespace": "velero"},
                "data": {"global": json.dumps({"podResources": {"cpuRequest": "100m", "cpuLimit": "0",
                                                                "memoryRequest": "512Mi", "memoryLimit": "1Gi"},
                                               "keepLatestMaintenanceJobs": 3})}})
    server.put({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "velero-backup-repository",
                                                                      "namespace": "velero"},
                "data": {"kopia": json.dumps({"cacheLimitMB": 2048})}})
    server.put({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "node-agent-config", "namespace": "velero"},
                "data": {"node-agent-config.json": json.dumps({"loadConcurrency": {"globalConfig": 2}})}})
    server.put({"apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
                "metadata": {"name": "default", "namespace": "velero"},
                "spec": {"provider": "aws", "default": True, "objectStorage": {"bucket": "backups"}},
                "status": {"phase": "Available"}})
    for namespace, failures in (("shop", 1), ("wiki", 0)):
        recent = [{"result": "Succeeded", "startTimestamp": _iso(now - 7200), "completeTimestamp": _iso(now - 7000)}]
        recent += [{"result": "Failed", "startTimestamp": _iso(now - 3600 + i), "message": "OOMKilled"}
                   for i in range(failures)]
        server.put({"apiVersion": "velero.io/v1", "kind": "BackupRepository",
                    "metadata": {"name": f"{namespace}-default-kopia", "namespace": "velero"},
                    "spec": {"volumeNamespace": namespace, "backupStorageLocation": "default",
                             "repositoryType": "kopia", "maintenanceFrequency": "1h0m0s"},
                    "status": {"phase": "Ready", "lastMaintenanceTime": _iso(now - 7000),
                               "recentMaintenance": recent}})
    # Ten daily backups (the oldest 9.x days ago) and one failed one.
    for day in range(10):
        started = now - day * 86400 - 600
        server.put({"apiVersion": "velero.io/v1", "kind": "Backup",
                    "metadata": {"name": f"daily-{day:02d}", "namespace": "velero",
                                 "labels": {"velero.io/schedule-name": "daily"}},
                    "status": {"phase": "Completed", "startTimestamp": _iso(started),
                               "completionTimestamp": _iso(started + 300)}})
        if day < 3:
            # Older uploads are smaller: only the newest per volume counts.
            shrink = day * GB
            for volume, size in SCENARIO["protected"].items():
                namespace, pvc = volume.split("/")
                common = {"metadata": {"name": f"daily-{day:02d}-{namespace}-{pvc}", "namespace": "velero",
                                       "labels": {"velero.io/backup-name": f"daily-{day:02d}"}},
                          "status": {"phase": "Completed", "completionTimestamp": _iso(started + 200),
                                     "progress": {"totalBytes": size - shrink, "bytesDone": size - shrink}}}
                if namespace == "wiki":
                    common["apiVersion"], common["kind"] = "velero.io/v1", "PodVolumeBackup"
                    common["spec"] = {"pod": {"namespace": namespace, "name": "wiki-0"}, "volume": pvc,
                                      "backupStorageLocation": "default", "uploaderType": "kopia"}
                else:
                    common["apiVersion"], common["kind"] = "velero.io/v2alpha1", "DataUpload"
                    common["spec"] = {"sourceNamespace": namespace, "sourcePVC": pvc,
                                      "backupStorageLocation": "default"}
                server.put(common)
    server.put({"apiVersion": "velero.io/v1", "kind": "Backup", "metadata": {"name": "manual", "namespace": "velero"},
                "status": {"phase": "Failed", "startTimestamp": _iso(now - 1000)}})
    return {"velero_version": velero_version}


# Resource types a whole-cluster backup lists on this server (after populate with events_k8s_io=True):
# every registered type with list/create/get/delete, events.events.k8s.io folded into core events.
WHOLE_CLUSTER_TYPES = [
    ("v1", "Namespace"), ("v1", "Pod"), ("v1", "PersistentVolumeClaim"), ("v1", "PersistentVolume"),
    ("v1", "ConfigMap"), ("v1", "Secret"), ("v1", "Service"), ("v1", "ServiceAccount"), ("v1", "Event"),
    ("v1", "Node"), ("v1", "Endpoints"), ("v1", "LimitRange"), ("v1", "ResourceQuota"),
    ("v1", "ReplicationController"), ("v1", "PodTemplate"),
    ("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"), ("apps/v1", "DaemonSet"), ("apps/v1", "ReplicaSet"),
    ("apps/v1", "ControllerRevision"), ("batch/v1", "Job"), ("batch/v1", "CronJob"),
    ("velero.io/v1", "Backup"), ("velero.io/v1", "Restore"), ("velero.io/v1", "Schedule"),
    ("velero.io/v1", "BackupStorageLocation"), ("velero.io/v1", "VolumeSnapshotLocation"),
    ("velero.io/v1", "BackupRepository"), ("velero.io/v1", "PodVolumeBackup"), ("velero.io/v1", "PodVolumeRestore"),
    ("velero.io/v1", "DeleteBackupRequest"), ("velero.io/v1", "DownloadRequest"),
    ("velero.io/v1", "ServerStatusRequest"), ("velero.io/v2alpha1", "DataUpload"),
    ("velero.io/v2alpha1", "DataDownload"),
]
CLUSTER_SCOPED = {"Namespace", "PersistentVolume", "Node"}


def expected_objects(server: KubeAPITestServer, namespaces: t.Iterable[str] | None = None,
                     cluster_scoped: bool = True) -> int:
    """Objects in scope computed from the server's own store (the oracle for the module's count)."""
    selected = None if namespaces is None else set(namespaces)
    total = 0
    for api_version, kind in WHOLE_CLUSTER_TYPES:
        if kind == "Namespace":
            active = [o["metadata"]["name"] for o in server.objects("v1", "Namespace")
                      if o.get("status", {}).get("phase") == "Active"]
            total += len([n for n in active if selected is None or n in selected])
        elif kind in CLUSTER_SCOPED:
            total += server.count(api_version, kind) if cluster_scoped else 0
        elif selected is None:
            total += server.count(api_version, kind)  # one cluster-wide list, as Velero does for "*"
        else:
            total += sum(server.count(api_version, kind, ns) for ns in selected)
    return total


def epoch(text: str) -> float:
    return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")))
