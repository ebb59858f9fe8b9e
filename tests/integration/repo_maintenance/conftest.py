# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures for the repo_maintenance suite: Velero's controller simulated on the loopback API server,
and a helper that runs the module through ansible-playbook exactly as a user would."""

from __future__ import annotations

import json
import sys
import typing as t
from pathlib import Path

import pytest
import yaml

from support.ansible_run import PlaybookRun, run_playbook
from support.kube_api_server import KubeAPITestServer
from support.rbac import attributes, uncovered
from support.velero_sim import VeleroSim

TASK_NAME = "Run repository maintenance"
RBAC_FILE = Path(__file__).resolve().parents[3] / "docs" / "rbac" / "repo-maintenance-role.yaml"


def assert_rbac_allows(requests: t.Sequence[t.Any], namespace: str = "velero") -> None:
    """Every request the module sent is allowed by the Role in docs/rbac/repo-maintenance-role.yaml, in the
    Velero namespace (checked with support.rbac, written independently of the client under test)."""
    document = yaml.safe_load(RBAC_FILE.read_text(encoding="utf-8"))
    role = next(item for item in document["items"] if item["kind"] == "Role")
    assert requests, "no requests recorded"
    assert uncovered(role, requests) == [], f"not allowed by {RBAC_FILE.name}"
    outside = [f"{r.method} {r.path}" for r in requests if attributes(r.method, r.path, r.query).namespace != namespace]
    assert outside == [], "requests outside the Velero namespace (a Role does not cover them)"


@pytest.fixture
def rbac_allows() -> t.Callable[..., None]:
    """``rbac_allows(server.requests)``: assert docs/rbac/repo-maintenance-role.yaml allows every request."""
    return assert_rbac_allows


@pytest.fixture
def make_sim(kube_server: KubeAPITestServer) -> t.Iterator[t.Callable[..., VeleroSim]]:
    """``make_sim("1.16.2")`` -> a VeleroSim for ``kube_server``; its controller thread runs during the test."""
    sims: list[VeleroSim] = []

    def make(version: str = "1.16.2", **kwargs: t.Any) -> VeleroSim:
        sim = VeleroSim(kube_server, version, **kwargs)
        sims.append(sim)
        return sim

    yield make
    for sim in sims:
        sim.stop()
        assert not sim.errors, sim.errors
    assert not kube_server.callback_errors, kube_server.callback_errors


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump({"all": {"children": {"clusters": {"hosts": {"prod": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}}}), encoding="utf-8")
    return path


# The task's registered result is written to a file by the playbook itself, so the tests do not depend on
# a JSON stdout callback (ansible-core 2.19 ships none; ansible.posix.json is not installed here).
DEFAULT_CALLBACK = {"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default"}


def registered_result(path: Path, run: PlaybookRun) -> dict[str, t.Any]:
    assert path.exists(), f"no task result\nstdout: {run.stdout[-3000:]}\nstderr: {run.stderr[-3000:]}"
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture
def run_module(tmp_path: Path, inventory: Path, kubeconfig_path: Path) -> t.Callable[..., tuple[dict, PlaybookRun]]:
    """Run ``velero_ops.tuning.repo_maintenance`` with ``args`` in a small playbook; return its result."""
    counter = [0]

    def run(args: dict[str, t.Any], *, check: bool = False, diff: bool = False) -> tuple[dict[str, t.Any], PlaybookRun]:
        counter[0] += 1
        playbook = tmp_path / f"maintain-{counter[0]}.yml"
        output = tmp_path / f"result-{counter[0]}.json"
        tasks = [
            {"name": TASK_NAME, "velero_ops.tuning.repo_maintenance": {"kubeconfig": str(kubeconfig_path), **args},
             "register": "maintenance", "ignore_errors": True},
            {"name": "Keep the result",
             "ansible.builtin.copy": {"content": "{{ maintenance | to_json }}", "dest": str(output), "mode": "0600"},
             "check_mode": False, "diff": False},
        ]
        playbook.write_text(yaml.safe_dump([{"name": "Maintain", "hosts": "clusters", "gather_facts": False,
                                             "tasks": tasks}], sort_keys=False), encoding="utf-8")
        outcome = run_playbook(playbook, inventory, check=check, diff=diff, timeout=120, env=DEFAULT_CALLBACK)
        return registered_result(output, outcome), outcome

    return run
