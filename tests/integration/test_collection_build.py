# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a published collection carries: the built tarball's file list, COPYING, the action group, the README."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import yaml

from support.ansible_run import REPO_ROOT

# Developer tooling that must never reach Galaxy or an execution environment.
NOT_SHIPPED = ("Makefile", "ansible.cfg", "pytest.ini", "requirements-dev.txt", ".ansible-lint", ".gitignore")
NOT_SHIPPED_DIRS = ("benchmarks/", "tools/", "tests/", ".ci/", ".build/", ".venv/", "extensions/", "out/",
                    "changelogs/fragments/")
# What runs or documents the collection.
SHIPPED = ("COPYING", "README.md", "requirements.txt", "meta/runtime.yml", "meta/execution-environment.yml",
           "playbooks/tune.yml", "playbooks/maintenance.yml", "changelogs/changelog.yaml",
           "roles/helm_values/meta/argument_specs.yml", "plugins/module_utils/_kube_args.py")


def _modules() -> list[str]:
    return sorted(p.stem for p in (REPO_ROOT / "plugins" / "modules").glob("*.py") if not p.stem.startswith("_"))


def test_the_built_collection_carries_what_runs_and_no_developer_tooling(tmp_path: Path) -> None:
    done = subprocess.run([str(Path(sys.executable).parent / "ansible-galaxy"), "collection", "build", "--force",
                           "--output-path", str(tmp_path), str(REPO_ROOT)], capture_output=True, text=True,
                          check=False, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    (tarball,) = tmp_path.glob("velero_ops-tuning-*.tar.gz")
    with tarfile.open(tarball) as archive:
        names = set(archive.getnames())
        handle = archive.extractfile("MANIFEST.json")
        assert handle is not None
        manifest = json.load(handle)
    for name in NOT_SHIPPED:
        assert name not in names, f"{name} is in the built collection"
    for prefix in NOT_SHIPPED_DIRS:
        assert not any(n == prefix.rstrip("/") or n.startswith(prefix) for n in names), f"{prefix} is shipped"
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".tar.gz"))]
    for name in SHIPPED:
        assert name in names, f"{name} is missing from the built collection"
    for module in _modules():
        assert f"plugins/modules/{module}.py" in names
    # Schemas are read at run time by the renderer: every era's schema ships.
    schemas = {p.name for p in (REPO_ROOT / "schemas" / "helm-values").glob("*.json")}
    assert {n.rsplit("/", 1)[-1] for n in names if n.startswith("schemas/helm-values/")} == schemas
    assert manifest["collection_info"]["license"] == ["GPL-3.0-or-later"]


def test_copying_is_the_gpl_3_the_collection_declares() -> None:
    text = (REPO_ROOT / "COPYING").read_text()
    assert text.lstrip().startswith("GNU GENERAL PUBLIC LICENSE")
    assert "Version 3, 29 June 2007" in text and "END OF TERMS AND CONDITIONS" in text
    galaxy = yaml.safe_load((REPO_ROOT / "galaxy.yml").read_text())
    assert galaxy["license"] == ["GPL-3.0-or-later"]


def test_every_module_that_talks_to_a_cluster_is_in_the_k8s_action_group() -> None:
    runtime = yaml.safe_load((REPO_ROOT / "meta" / "runtime.yml").read_text())
    cluster_modules = sorted(m for m in _modules()
                             if "auth_argspec()" in (REPO_ROOT / "plugins" / "modules" / f"{m}.py").read_text())
    assert cluster_modules == ["cluster_facts", "repo_maintenance"]
    assert sorted(runtime["action_groups"]["k8s"]) == cluster_modules


def test_readme_what_is_inside_lists_every_plugin() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    inside = readme.split("## What is inside", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"`velero_ops\.tuning\.([a-z_0-9]+)`", inside))
    plugins = set(_modules())
    plugins |= {p.stem for p in (REPO_ROOT / "plugins" / "action").glob("*.py")}
    plugins |= {p.stem for p in (REPO_ROOT / "plugins" / "doc_fragments").glob("*.py")} - {"attributes"}
    assert plugins <= listed, f"not in README's 'What is inside': {sorted(plugins - listed)}"
    for action in (REPO_ROOT / "plugins" / "action").glob("*.py"):
        assert re.search(rf"`velero_ops\.tuning\.{action.stem}` \(action plugin", inside), action.stem
