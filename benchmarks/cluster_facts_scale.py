# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""cluster_facts at scale: 2,000 namespaces, 150 resource types, 30,000 vs 300,000 objects.

The real module runs as its own process (``python cluster_facts.py args.json``, the way Ansible
runs it after unpacking) against the loopback API test server, which serves synthetic objects.
For each run: HTTP requests the server received (and the module counted), the module process's
peak RSS (``ru_maxrss`` from ``wait4``), wall time. Runs with and without
``metadata.remainingItemCount`` show that requests follow resource types and list pages, while
memory stays flat as objects grow tenfold.

    python benchmarks/cluster_facts_scale.py [--write-results] [--quick]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / ".build" / "collections"))

from support.kube_api_server import KubeAPITestServer  # noqa: E402

NAMESPACE_COUNT = 2000
RESOURCE_TYPES = 150
SECTION = "## cluster_facts at scale"
MODULE = REPO / "plugins" / "modules" / "cluster_facts.py"
# /version, /api, /apis, /api/v1, /apis/<group>/<version>: everything that is not a list.
DISCOVERY = re.compile(r"^/(version|api|apis|api/[^/]+|apis/[^/]+/[^/]+)$")


def build(server: KubeAPITestServer, target_objects: int) -> dict:
    """2,000 namespaces and 150 backed-up types; ``target_objects`` objects in all (namespaces included)."""
    server.register_velero_crds()  # 13 types; with the 22 core/apps/batch defaults: 35
    crd_types = []
    groups = 23
    for index in range(RESOURCE_TYPES - 35):
        group = f"g{index % groups:02d}.example.com"
        kind = f"Thing{index:03d}"
        server.register_resource(group, "v1", kind, kind.lower() + "s", True)
        crd_types.append((f"{group}/v1", kind))
    namespaces = [f"ns-{i:04d}" for i in range(NAMESPACE_COUNT - 1)] + ["velero"]
    for name in namespaces:
        server.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    server.put({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "velero", "namespace": "velero"},
                "spec": {"replicas": 1, "template": {"spec": {"containers": [{
                    "name": "velero", "image": "velero/velero:v1.16.0", "command": ["/velero"],
                    "args": ["server", "--client-qps=100"]}]}}}})
    per_namespace = (target_objects - NAMESPACE_COUNT - 1) // NAMESPACE_COUNT
    # Each namespace: pods, a bound PVC, configmaps, secrets, then one object per CRD type in turn.
    plan = [("v1", "Pod", max(1, per_namespace // 15)), ("v1", "PersistentVolumeClaim", 1),
            ("v1", "ConfigMap", 1), ("v1", "Secret", 1)]
    remaining = per_namespace - sum(entry[2] for entry in plan)
    templates = {"PersistentVolumeClaim": {"status": {"phase": "Bound", "capacity": {"storage": "1Gi"}}}}
    for api_version, kind, count in plan:
        server.add_synthetic(api_version, kind, namespaces, count, template=templates.get(kind))
    for offset in range(remaining):
        api_version, kind = crd_types[offset % len(crd_types)]
        server.add_synthetic(api_version, kind, namespaces, 1)
    # Round up to the exact target with cluster-scoped nodes.
    total = sum(server.count(a, k) for a, k in [("v1", "Namespace")] + [(entry[0], entry[1]) for entry in plan] + crd_types) + 1
    server.add_synthetic("v1", "Node", None, max(0, target_objects - total))
    return {"namespaces": len(namespaces), "objects": target_objects}


def run_module(kubeconfig: Path, workdir: Path) -> tuple[dict, int, float]:
    args = workdir / "args.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {"kubeconfig": str(kubeconfig), "velero_version": "1.16.0"}}))
    env = dict(os.environ, PYTHONPATH=str(REPO / ".build" / "collections"))
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, str(MODULE), str(args)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env)
    # wait4 gives this child's own rusage: ru_maxrss is its peak RSS in KiB on Linux.
    stdout_chunks = []
    while True:
        chunk = process.stdout.read(1 << 20)  # drain, so a large answer cannot block the child
        if not chunk:
            break
        stdout_chunks.append(chunk)
    status, usage = os.wait4(process.pid, 0)[1:]
    process.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.monotonic() - started
    stderr = process.stderr.read().decode(errors="replace")
    result = json.loads(b"".join(stdout_chunks) or b"{}")
    if result.get("failed") or process.returncode:
        raise SystemExit(f"module failed: {result.get('msg')}\n{stderr[-2000:]}")
    return result, usage.ru_maxrss * 1024, elapsed


def measure(target_objects: int, remaining_item_count: bool, aggregated: bool = True) -> dict:
    with KubeAPITestServer(aggregated_discovery=aggregated, remaining_item_count=remaining_item_count) as server, \
            tempfile.TemporaryDirectory() as tmp:
        built = build(server, target_objects)
        server.clear_requests()
        result, peak_rss, elapsed = run_module(server.write_kubeconfig(Path(tmp) / "kubeconfig"), Path(tmp))
        discovery = [r for r in server.requests if DISCOVERY.match(r.path)]
        lists = [r for r in server.requests if not DISCOVERY.match(r.path)]
        metadata_only = sum(1 for r in lists if "as=PartialObjectMetadataList" in r.accept)
        pods = len(server.requests_matching("GET", r"^/api/v1/pods$"))
        return {
            "objects": built["objects"], "measured_objects": result["cluster"]["objects"],
            "namespaces": result["cluster"]["namespaces"], "resource_types": result["cluster"]["resource_types"],
            "remaining_item_count": remaining_item_count, "aggregated_discovery": aggregated,
            "requests": len(server.requests), "module_counted": result["api_requests"]["total"],
            "discovery_requests": len(discovery),
            "metadata_only_lists": metadata_only, "full_object_lists": len(lists) - metadata_only,
            "pod_pages": pods, "peak_rss_bytes": peak_rss, "seconds": round(elapsed, 1),
        }


def markdown(rows: list[dict]) -> str:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    lines = [
        SECTION, "",
        f"Script: `benchmarks/cluster_facts_scale.py --write-results`. Machine: {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {now}. The real module runs as its own "
        "process against the loopback API test server (`tests/support/kube_api_server.py`) serving "
        f"{NAMESPACE_COUNT:,} namespaces and {RESOURCE_TYPES} backed-up resource types (22 core/apps/batch, "
        "13 Velero, 115 CRDs) with synthetic objects; page size 500. Peak RSS is the module process's "
        "`ru_maxrss`; requests are those the server received (the module's own count agrees).", "",
        "| objects | remainingItemCount | discovery | requests | discovery requests | metadata-only lists "
        "| full-object lists | pod pages | module peak RSS | wall time |",
        "|---:|:---:|:---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['objects']:,} | {'yes' if row['remaining_item_count'] else 'no'} "
            f"| {'aggregated' if row['aggregated_discovery'] else 'legacy'} | {row['requests']:,} "
            f"| {row['discovery_requests']:,} | {row['metadata_only_lists']:,} | {row['full_object_lists']:,} | {row['pod_pages']:,} "
            f"| {row['peak_rss_bytes'] / 2**20:.1f} MiB | {row['seconds']:.1f} s |")
    by = {(r["objects"], r["remaining_item_count"], r["aggregated_discovery"]): r for r in rows}
    small, large = min(r["objects"] for r in rows), max(r["objects"] for r in rows)
    with_count = (by.get((small, True, True)), by.get((large, True, True)))
    paged = (by.get((small, False, True)), by.get((large, False, True)))
    lines.append("")
    if all(with_count):
        a, b = with_count
        lines.append(
            f"- With `remainingItemCount` (what kube-apiserver returns for unfiltered paginated lists), 10x the objects "
            f"({a['objects']:,} -> {b['objects']:,}) changed requests from {a['requests']:,} to {b['requests']:,}: one "
            f"count request per resource type; the difference is the pod and PVC pages read for the per-namespace "
            f"figures ({a['pod_pages']} -> {b['pod_pages']} pod pages). Peak RSS "
            f"{a['peak_rss_bytes'] / 2**20:.1f} MiB -> {b['peak_rss_bytes'] / 2**20:.1f} MiB.")
    if all(paged):
        a, b = paged
        lines.append(
            f"- Without it the module pages through every type: {a['requests']:,} -> {b['requests']:,} requests, "
            f"i.e. list pages (objects / 500 per type), never one request per object. Peak RSS "
            f"{a['peak_rss_bytes'] / 2**20:.1f} MiB -> {b['peak_rss_bytes'] / 2**20:.1f} MiB: one page is held at a time.")
    legacy = [r for r in rows if not r["aggregated_discovery"]]
    if legacy and by.get((legacy[0]["objects"], legacy[0]["remaining_item_count"], True)):
        a = by[(legacy[0]["objects"], legacy[0]["remaining_item_count"], True)]
        lines.append(
            f"- Legacy discovery (no aggregated discovery) adds one request per served group-version: "
            f"{a['requests']:,} -> {legacy[0]['requests']:,} requests.")
    lines.append("")
    return "\n".join(lines)


def write_results(text: str) -> None:
    """Replace only this benchmark's section of benchmarks/RESULTS.md."""
    path = REPO / "benchmarks" / "RESULTS.md"
    content = path.read_text(encoding="utf-8")
    pattern = re.compile(r"^## cluster_facts at scale\n.*?(?=^## |\Z)", re.S | re.M)
    if not pattern.search(content):
        raise SystemExit(f"{path}: no '{SECTION}' section to replace")
    updated = pattern.sub(lambda _: text.rstrip("\n") + "\n\n", content, count=1).rstrip("\n") + "\n"
    temporary = path.with_suffix(".md.tmp")
    temporary.write_text(updated, encoding="utf-8")
    temporary.replace(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--write-results", action="store_true", help="update the section in benchmarks/RESULTS.md")
    parser.add_argument("--quick", action="store_true", help="only the two runs with remainingItemCount")
    options = parser.parse_args()
    runs = [(30_000, True, True), (300_000, True, True)]
    if not options.quick:
        runs += [(30_000, False, True), (300_000, False, True), (300_000, True, False)]
    rows = []
    for objects, remaining, aggregated in runs:
        row = measure(objects, remaining, aggregated)
        print(json.dumps(row), flush=True)
        if row["measured_objects"] != row["objects"]:
            raise SystemExit(f"the module counted {row['measured_objects']} objects, expected {row['objects']}")
        rows.append(row)
    out = REPO / "benchmarks" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "cluster_facts_scale.json").write_text(json.dumps(rows, indent=2))
    text = markdown(rows)
    print(text)
    if options.write_results:
        write_results(text)


if __name__ == "__main__":
    main()
