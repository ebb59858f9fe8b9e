# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""tune.yml on a generated fleet of clusters against a baseline that only writes the same files.

    python benchmarks/tune_fleet.py                 # 500 clusters, forks 5, writes benchmarks/RESULTS.md
    python benchmarks/tune_fleet.py --hosts 50 --no-write

One run does both: generate an inventory of N clusters across every chart era (benchmarks/out/tune/),
run playbooks/tune.yml, then benchmarks/tune/baseline.yml (same inventory, same forks, connection local,
the same files written with static content through ansible.builtin.copy), each into a fresh output
directory, and report wall-clock times and the ratio. Target: tune.yml <= 1.5 x baseline. The result
replaces the "tune.yml on a 500-cluster fleet" section of benchmarks/RESULTS.md (nothing else is touched).
Not a CI test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import time
import typing as t
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / "out" / "tune"
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SECTION = "## tune.yml on a 500-cluster fleet"
TARGET = 1.5
# (chart, Velero) pairs: the last chart of every era, so the fleet exercises every rendering route.
PAIRS = [("5.2.2", "1.12.3"), ("5.4.1", "1.13.0"), ("6.1.0", "1.13.0"), ("6.6.0", "1.13.2"), ("6.7.0", "1.13.2"),
         ("7.0.0", "1.14.0"), ("7.1.1", "1.14.0"), ("7.1.2", "1.14.0"), ("7.2.2", "1.14.1"), ("8.7.2", "1.15.2"),
         ("9.2.0", "1.16.0"), ("10.0.13", "1.16.2"), ("10.1.3", "1.16.2"), ("11.4.0", "1.17.1"),
         ("12.1.0", "1.18.1")]


def make_inventory(count: int, seed: int = 7) -> Path:
    """Deterministic fleet: sizes from small edge clusters to large multi-tenant ones."""
    rng = random.Random(seed)
    hosts: dict[str, dict[str, t.Any]] = {}
    for index in range(count):
        chart, velero = PAIRS[index % len(PAIRS)]
        namespaces = rng.choice([8, 25, 60, 140, 300, 800])
        repositories = max(1, namespaces // rng.choice([2, 4, 8]))
        volume_gib = rng.choice([20, 150, 700, 2000, 9000])
        host: dict[str, t.Any] = {
            "velero_version": velero,
            "velero_chart_version": chart,
            "velero_cluster": {"namespaces": namespaces, "objects": namespaces * rng.choice([80, 250, 600]),
                               "resource_types": rng.choice([150, 240, 380]), "nodes": rng.choice([3, 12, 40, 96])},
            "velero_data": {"volume_bytes": f"{volume_gib}Gi", "repositories": repositories,
                            "largest_repository_bytes": f"{max(1, volume_gib // rng.choice([1, 3, 10]))}Gi",
                            "largest_repository_key": f"ns{index}-default-kopia",
                            "backups_per_day": rng.choice([1, 4, 24])},
        }
        if index % 3 == 0:
            host["velero_values_overrides"] = {
                "deployNodeAgent": True,
                "configuration": {"backupStorageLocation": [{"name": "default", "provider": "aws",
                                                             "bucket": f"velero-{index}"}]}}
        hosts[f"cluster-{index:04d}"] = host
    WORK.mkdir(parents=True, exist_ok=True)
    inventory = WORK / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": hosts}}, sort_keys=True), encoding="utf-8")
    return inventory


def run(playbook: Path, inventory: Path, out: Path, forks: int) -> tuple[float, str]:
    shutil.rmtree(out, ignore_errors=True)
    env = dict(os.environ)
    env.update({"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.minimal",
                "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".build" / "collections"), "ANSIBLE_NOCOLOR": "1"})
    command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), str(playbook),
               "-f", str(forks), "-e", f"tune_output_dir={out}"]
    start = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, env=env, cwd=str(ROOT), check=False)
    elapsed = time.perf_counter() - start
    if completed.returncode != 0:
        raise SystemExit(f"{playbook.name} failed (rc {completed.returncode}):\n{completed.stdout[-4000:]}\n"
                         f"{completed.stderr[-2000:]}")
    return elapsed, completed.stdout


def check_outputs(out: Path, count: int) -> None:
    for name in ("values.yaml", "report.md", "api-time.svg"):
        found = len(list(out.glob(f"*/{name}")))
        if found != count:
            raise SystemExit(f"{out}: {found} {name} files, expected {count}")
    if not (out / "fleet-report.md").is_file():
        raise SystemExit(f"{out}: fleet-report.md missing")


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            names = [line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    memory = ""
    try:
        with open("/proc/meminfo", encoding="utf-8") as handle:
            kib = int(next(line for line in handle if line.startswith("MemTotal")).split()[1])
        memory = f", {kib / 2**20:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    import ansible  # the venv's ansible-core

    return (f"{cpu}, {os.cpu_count()} CPUs{memory}; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}; ansible-core {ansible.__version__}")


def write_section(text: str) -> None:
    """Replace only the body of our section in RESULTS.md; the other sections stay byte for byte."""
    content = RESULTS.read_text(encoding="utf-8")
    start = content.index(SECTION)
    body_start = start + len(SECTION)
    following = re.search(r"^## ", content[body_start:], re.M)
    end = body_start + following.start() if following else len(content)
    RESULTS.write_text(content[:body_start] + "\n\n" + text.strip() + "\n\n" + content[end:].lstrip("\n")
                       if following else content[:body_start] + "\n\n" + text.strip() + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--hosts", type=int, default=500)
    parser.add_argument("--forks", type=int, default=5, help="Ansible forks for both playbooks (default 5)")
    parser.add_argument("--no-write", action="store_true", help="do not update benchmarks/RESULTS.md")
    args = parser.parse_args(argv)

    inventory = make_inventory(args.hosts)
    tune_out, base_out = WORK / "out-tune", WORK / "out-baseline"
    print(f"{args.hosts} clusters, forks {args.forks}: running playbooks/tune.yml ...", flush=True)
    tune_seconds, _output = run(ROOT / "playbooks" / "tune.yml", inventory, tune_out, args.forks)
    check_outputs(tune_out, args.hosts)
    print(f"  {tune_seconds:.1f} s; running benchmarks/tune/baseline.yml ...", flush=True)
    base_seconds, _output = run(ROOT / "benchmarks" / "tune" / "baseline.yml", inventory, base_out, args.forks)
    check_outputs(base_out, args.hosts)
    ratio = tune_seconds / base_seconds
    verdict = "meets" if ratio <= TARGET else "MISSES"
    print(f"  {base_seconds:.1f} s; ratio {ratio:.2f} ({verdict} the {TARGET}x target)")

    text = f"""
Script: `python benchmarks/tune_fleet.py` (one run: generates the inventory, runs both playbooks).
Date: {dt.date.today().isoformat()}. Machine: {machine()}.

{args.hosts} generated clusters over every chart era (5.2.2 .. 12.1.0), a third with an overrides mapping;
forks {args.forks}, connection local, fresh output directories. Baseline: `benchmarks/tune/baseline.yml`, the same
hosts and forks writing the same files (values.yaml, report.md, api-time.svg per cluster, fleet-report.md) with
static content through `ansible.builtin.copy`.

| playbook | wall time | per cluster |
| --- | --- | --- |
| `playbooks/tune.yml` (sizing + rendering on the controller, then the same copies) | {tune_seconds:.1f} s | {1000 * tune_seconds / args.hosts:.0f} ms |
| `benchmarks/tune/baseline.yml` (copies only) | {base_seconds:.1f} s | {1000 * base_seconds / args.hosts:.0f} ms |

Ratio tune.yml / baseline: **{ratio:.2f}** ({verdict} the target of at most {TARGET}x). Sizing and rendering run in
the `velero_ops.tuning.render_values` action plugin on the controller; no module is shipped per cluster for them.
"""
    if args.no_write:
        print(text)
    else:
        write_section(text)
        print(f"updated {RESULTS.relative_to(ROOT)}")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
