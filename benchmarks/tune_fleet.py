# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""tune.yml on a generated fleet of clusters against the floor: one in-process action per host writing the files.

    python benchmarks/tune_fleet.py                 # 500 clusters, forks 5, writes benchmarks/RESULTS.md
    python benchmarks/tune_fleet.py --hosts 50 --no-write

One run on one generated inventory of N clusters across every chart era (benchmarks/out/tune/): the floor
(benchmarks/tune/floor.yml, one controller-side action per host writing the same files with static content),
playbooks/tune.yml into a fresh directory, the same again with nothing to change (must report no change),
tune.yml --check --diff into a fresh directory (must write nothing), and the copy-only baseline
(benchmarks/tune/baseline.yml, one module process per file). Reports wall time, the ratio to the floor,
the controller's peak memory and a per-task time breakdown (benchmarks/tune/callback_plugins/task_times.py).
Targets (issue 12, 500 clusters, forks 5): fresh <= 60 s and <= 8x the floor, re-run <= 45 s, --check --diff
<= 60 s. The result replaces the "tune.yml on a 500-cluster fleet" section of benchmarks/RESULTS.md (nothing
else is touched). Not a CI test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
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
# Issue 12: fresh output <= 60 s and <= 8x the floor; a re-run <= 45 s; --check --diff <= 60 s (500 clusters).
FRESH_TARGET, FLOOR_RATIO, RERUN_TARGET, CHECK_TARGET = 60.0, 8.0, 45.0, 60.0
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


class Run(t.NamedTuple):
    seconds: float
    peak_rss_mib: float  # VmHWM of the ansible-playbook process (the controller; workers are its forks)
    stdout: str
    task_times: dict[str, float]


def run(playbook: Path, inventory: Path, out: Path, forks: int, *, fresh: bool = True,
        extra: t.Sequence[str] = ()) -> Run:
    if fresh:
        shutil.rmtree(out, ignore_errors=True)
    times_file = WORK / f"times-{playbook.stem}-{len(list(WORK.glob('times-*')))}.json"
    env = dict(os.environ)
    env.update({"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.minimal",
                "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".build" / "collections"), "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_CALLBACK_PLUGINS": str(ROOT / "benchmarks" / "tune" / "callback_plugins"),
                "ANSIBLE_CALLBACKS_ENABLED": "task_times", "TASK_TIMES_FILE": str(times_file)})
    command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), str(playbook),
               "-f", str(forks), "-e", f"tune_output_dir={out}", *extra]
    start = time.perf_counter()
    with open(WORK / "stdout.txt", "w+", encoding="utf-8") as stdout, \
            open(WORK / "stderr.txt", "w+", encoding="utf-8") as stderr:
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr, env=env, cwd=str(ROOT))
        peak_kib = 0
        while process.poll() is None:
            peak_kib = max(peak_kib, _vm_hwm_kib(process.pid))
            time.sleep(0.25)
        elapsed = time.perf_counter() - start
        stdout.seek(0)
        stderr.seek(0)
        output, errors = stdout.read(), stderr.read()
    if process.returncode != 0:
        raise SystemExit(f"{playbook.name} failed (rc {process.returncode}):\n{output[-4000:]}\n{errors[-2000:]}")
    times = json.loads(times_file.read_text(encoding="utf-8")) if times_file.exists() else {}
    return Run(elapsed, peak_kib / 1024, output, times)


def _vm_hwm_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def check_outputs(out: Path, count: int) -> None:
    for name in ("values.yaml", "report.md", "api-time.svg"):
        found = len(list(out.glob(f"*/{name}")))
        if found != count:
            raise SystemExit(f"{out}: {found} {name} files, expected {count}")
    if not (out / "fleet-report.md").is_file():
        raise SystemExit(f"{out}: fleet-report.md missing")


def changed_hosts(output: str) -> int:
    """Hosts the minimal callback reported as CHANGED (the re-run must have none)."""
    return len(set(re.findall(r"^(\S+) \| CHANGED", output, re.M)))


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


def table_row(label: str, result: Run, floor: Run, count: int, bold: bool = False) -> str:
    ratio = f"{result.seconds / floor.seconds:.2f}"
    ratio = f"**{ratio}**" if bold else ratio
    return (f"| {label} | {result.seconds:.1f} s | {1000 * result.seconds / count:.0f} ms | {ratio} | "
            f"{result.peak_rss_mib:.0f} MiB |")


def breakdown(times: dict[str, float], count: int) -> str:
    rows = sorted(times.items(), key=lambda item: -item[1])
    lines = ["| task | seconds | per cluster |", "| --- | ---: | ---: |"]
    lines += [f"| {name.replace('|', '/')} | {seconds:.1f} | {1000 * seconds / count:.0f} ms |"
              for name, seconds in rows if seconds >= 0.05]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--hosts", type=int, default=500)
    parser.add_argument("--forks", type=int, default=5, help="Ansible forks for every playbook (default 5)")
    parser.add_argument("--no-write", action="store_true", help="do not update benchmarks/RESULTS.md")
    parser.add_argument("--skip-baseline", action="store_true",
                        help="quick check: no copy-only baseline (implies --no-write)")
    parser.add_argument("--note", default="", help="a sentence about the machine's state, put in the results")
    args = parser.parse_args(argv)

    inventory = make_inventory(args.hosts)
    tune_out, base_out, floor_out = WORK / "out-tune", WORK / "out-baseline", WORK / "out-floor"
    check_out = WORK / "out-check"
    say = functools.partial(print, flush=True)
    load_at_start = os.getloadavg()[0]
    say(f"{args.hosts} clusters, forks {args.forks}, load average {load_at_start:.1f}")
    floor = run(ROOT / "benchmarks" / "tune" / "floor.yml", inventory, floor_out, args.forks)
    check_outputs(floor_out, args.hosts)
    say(f"  floor (benchmarks/tune/floor.yml): {floor.seconds:.1f} s")
    fresh = run(ROOT / "playbooks" / "tune.yml", inventory, tune_out, args.forks)
    check_outputs(tune_out, args.hosts)
    say(f"  tune.yml, fresh output: {fresh.seconds:.1f} s")
    again = run(ROOT / "playbooks" / "tune.yml", inventory, tune_out, args.forks, fresh=False)
    if changed_hosts(again.stdout):
        raise SystemExit(f"the re-run changed {changed_hosts(again.stdout)} hosts; expected none")
    say(f"  tune.yml, re-run with nothing to change: {again.seconds:.1f} s")
    check = run(ROOT / "playbooks" / "tune.yml", inventory, check_out, args.forks, extra=("--check", "--diff"))
    if check_out.exists():
        raise SystemExit(f"--check wrote {check_out}")
    say(f"  tune.yml --check --diff (fresh output, every file diffed): {check.seconds:.1f} s")
    if args.skip_baseline:
        args.no_write = True
        base = Run(float("nan"), float("nan"), "", {})
    else:
        base = run(ROOT / "benchmarks" / "tune" / "baseline.yml", inventory, base_out, args.forks)
        check_outputs(base_out, args.hosts)
    say(f"  baseline (copy module per file): {base.seconds:.1f} s")
    ratio = fresh.seconds / floor.seconds
    goals = [
        (fresh.seconds <= FRESH_TARGET, f"fresh output {fresh.seconds:.1f} s <= {FRESH_TARGET:.0f} s"),
        (ratio <= FLOOR_RATIO, f"ratio to the floor {ratio:.2f} <= {FLOOR_RATIO:.0f}"),
        (again.seconds <= RERUN_TARGET, f"re-run {again.seconds:.1f} s <= {RERUN_TARGET:.0f} s"),
        (check.seconds <= CHECK_TARGET, f"--check --diff {check.seconds:.1f} s <= {CHECK_TARGET:.0f} s"),
    ]
    verdicts = "; ".join(("meets: " if ok else "MISSES: ") + text for ok, text in goals)
    say(f"  {verdicts}")
    scale = (f" (targets are for 500 clusters; this run had {args.hosts}, fresh output scaled to 500: "
             f"{fresh.seconds * 500 / args.hosts:.0f} s)") if args.hosts != 500 else ""
    note = f" {args.note}" if args.note else ""

    text = f"""
Script: `python benchmarks/tune_fleet.py` (one run: generates the inventory, runs every playbook below on it).
Date: {dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}. Machine: {machine()}. Load average
(1 min) at the start: {load_at_start:.1f}, at the end: {os.getloadavg()[0]:.1f}.{note}

{args.hosts} generated clusters over every chart era (5.2.2 .. 12.1.0), a third with an overrides mapping;
forks {args.forks}, connection local. Floor: `benchmarks/tune/floor.yml`, one in-process action per host
(`benchmarks/tune/action_plugins/floor_write.py`) writing the same files with static content. Baseline:
`benchmarks/tune/baseline.yml`, the same files through `ansible.builtin.file` + `ansible.builtin.copy`, one
module process per file (what tune.yml did before). Peak memory: VmHWM of the ansible-playbook process (the
controller; workers are its forks).

| run | wall time | per cluster | ratio to floor | controller peak memory |
| --- | ---: | ---: | ---: | ---: |
{table_row("floor (`benchmarks/tune/floor.yml`)", floor, floor, args.hosts)}
{table_row("`playbooks/tune.yml`, fresh output", fresh, floor, args.hosts, bold=True)}
{table_row("`playbooks/tune.yml`, re-run, nothing to change", again, floor, args.hosts)}
{table_row("`playbooks/tune.yml --check --diff`, fresh output (every file diffed)", check, floor, args.hosts)}
{table_row("baseline (`benchmarks/tune/baseline.yml`, copy per file)", base, floor, args.hosts)}

Targets (issue 12): {verdicts}{scale}.

Where tune.yml's fresh run spends its time (wall time between task starts, over all hosts; from
`benchmarks/tune/callback_plugins/task_times.py`):

{breakdown(fresh.task_times, args.hosts)}

Floor, same measure:

{breakdown(floor.task_times, args.hosts)}
"""
    if args.no_write:
        say(text)
    else:
        write_section(text)
        say(f"updated {RESULTS.relative_to(ROOT)}")
    return 0 if all(ok for ok, _text in goals) else 1


if __name__ == "__main__":
    sys.exit(main())
