# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/tune.yml keeps credentials out of its output and host names inside the output directory (issue 13).

Real ansible-playbook runs (default callback, -v/-vvv, --diff), checked on what a user would see: stdout, stderr
and the fleet report.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from support.ansible_run import REPO_ROOT, PlaybookRun, run_playbook

pytestmark = pytest.mark.slow

TUNE = REPO_ROOT / "playbooks" / "tune.yml"
TEXT = {"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default", "ANSIBLE_FORCE_COLOR": "0"}
COMMON = {"velero_version": "1.16.2", "velero_chart_version": "10.1.3",
          "velero_cluster": {"namespaces": 10, "objects": 2000, "resource_types": 150},
          "velero_data": {"volume_bytes": "100Gi"}}


def explain(run: PlaybookRun) -> str:
    return f"rc={run.returncode}\n{run.stdout[-5000:]}\n{run.stderr[-3000:]}"


def printed(run: PlaybookRun) -> str:
    return run.stdout + run.stderr


def encrypt_string(secret: str, password_file: Path) -> str:
    """The ``!vault |`` block ansible-vault prints, indented for a mapping value at any depth (added later)."""
    vault = Path(sys.executable).parent / "ansible-vault"
    completed = subprocess.run([str(vault), "encrypt_string", "--vault-password-file", str(password_file), secret],
                               check=True, capture_output=True, text=True)
    return completed.stdout.strip()


def test_credentials_in_overrides_are_never_printed_and_the_diff_says_why(tmp_path):
    password = tmp_path / "vault-password"
    password.write_text("not-a-real-password\n")
    vaulted = encrypt_string("INLINE-VAULT-4711", password)
    # Inline !vault under a key that is not a credential by name: the vault tag alone makes it sensitive.
    inline = "\n".join("            " + line for line in vaulted.splitlines()[1:])
    inventory = tmp_path / "inventory.yml"
    hosts = {
        "plain-credentials": {**COMMON, "velero_values_overrides": {
            "credentials": {"secretContents": {"cloud": "[default]\naws_secret_access_key=PLAIN-SECRET-1\n"}}}},
        "bsl-keys": {**COMMON, "velero_values_overrides": {"configuration": {"backupStorageLocation": [
            {"name": "default", "provider": "aws", "bucket": "b",
             "config": {"region": "eu-west-1", "accessKey": "AKIA-PLAIN-2", "secretKey": "PLAIN-SECRET-3"}}]}}},
        "env-secret": {**COMMON, "velero_values_overrides": {"configuration": {"extraEnvVars": [
            {"name": "AWS_SECRET_ACCESS_KEY", "value": "PLAIN-SECRET-5"}]}}},
        "no-secret": {**COMMON, "velero_values_overrides": {"configuration": {"logLevel": "info"}}},
    }
    for variables in hosts.values():
        variables["ansible_python_interpreter"] = sys.executable
    text = yaml.safe_dump({"all": {"hosts": hosts}})  # hosts is the last key: the vaulted host goes below
    text += ("    inline-vault:\n      ansible_python_interpreter: " + sys.executable + "\n"
             "      velero_version: '1.16.2'\n      velero_chart_version: '10.1.3'\n"
             "      velero_cluster: {namespaces: 10, objects: 2000, resource_types: 150}\n"
             "      velero_data: {volume_bytes: 100Gi}\n      velero_values_overrides:\n"
             "        configuration:\n          logFormat: !vault |\n" + inline + "\n")
    inventory.write_text(text)
    secrets = ["INLINE-VAULT-4711", "PLAIN-SECRET-1", "AKIA-PLAIN-2", "PLAIN-SECRET-3", "PLAIN-SECRET-5"]
    out = tmp_path / "out"
    env = {**TEXT, "ANSIBLE_VAULT_PASSWORD_FILE": str(password), "ANSIBLE_VERBOSITY": "2"}
    # First run -v --diff (every file new, so every values.yaml would be diffed), then --check --diff with a change.
    runs = [run_playbook(TUNE, inventory, extra_vars={"tune_output_dir": str(out)}, env=env, diff=True)]
    runs.append(run_playbook(TUNE, inventory, extra_vars={"tune_output_dir": str(out),
                                                          "velero_release_name": "velero-b"},
                             env=env, diff=True, check=True))
    for run in runs:
        assert run.returncode == 0, explain(run)
        for secret in secrets:
            assert secret not in printed(run), (secret, explain(run))
        # The diff header's place says why, naming the keys, never the values.
        for host, keys in {"plain-credentials": "credentials.secretContents",
                           "bsl-keys": "configuration.backupStorageLocation[0].config.accessKey, "
                                       "configuration.backupStorageLocation[0].config.secretKey",
                           "env-secret": "configuration.extraEnvVars[0]",
                           "inline-vault": "configuration.logFormat"}.items():
            assert (f"{out}/{host}/values.yaml" in printed(run) and
                    f"its diff is not shown because the overrides hold credentials ({keys})" in printed(run)), \
                (host, explain(run))
        # A cluster without credentials still gets its values.yaml diff.
        assert f"+++ after: {out}/no-secret/values.yaml" in run.stdout, explain(run)
    assert "INLINE-VAULT-4711" in (out / "inline-vault" / "values.yaml").read_text()
    assert "PLAIN-SECRET-3" in (out / "bsl-keys" / "values.yaml").read_text()
    for host in hosts:
        assert oct((out / host / "values.yaml").stat().st_mode & 0o777) == "0o600"
    assert not any(secret in (out / "fleet-report.md").read_text() for secret in secrets)


def test_url_passwords_of_host_and_proxy_are_masked_at_vvv(kube_server, tmp_path):
    url = kube_server.url
    with_user = url.replace("://", "://admin:hunter2-host@", 1)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": "http://admin:kc-pw-3@127.0.0.1:9"}}],
        "users": [{"name": "u", "user": {"token": "test-token"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}))
    inventory = tmp_path / "inventory.yml"
    live = {"velero_live_facts": True, "velero_kube_api_key": "test-token", "velero_version": "1.16.0",
            "velero_chart_version": "10.1.3"}
    inventory.write_text(yaml.safe_dump({"all": {"vars": {"ansible_python_interpreter": sys.executable}, "hosts": {
        "userinfo-host": {**live, "velero_kube_host": with_user},
        "down": {**live, "velero_kube_host": "http://admin:hunter2-down@127.0.0.1:9"},
        "proxied": {**live, "velero_kube_host": url, "velero_kube_proxy": "http://puser:prox-pw-9@127.0.0.1:9"},
        # A kubeconfig file's server URL never reaches Ansible's no_log values: the message itself masks it.
        "kubeconfig-url": {"velero_live_facts": True, "velero_kubeconfig": str(kubeconfig), "velero_version": "1.16.0",
                           "velero_chart_version": "10.1.3"},
    }}}))
    out = tmp_path / "out"
    run = run_playbook(TUNE, inventory, extra_vars={"tune_output_dir": str(out)},
                       env={**TEXT, "ANSIBLE_VERBOSITY": "3"})
    assert "Traceback" not in printed(run), explain(run)
    fatal = {line.split("[", 1)[1].split("]", 1)[0] for line in run.stdout.splitlines() if line.startswith("fatal: [")}
    assert {"down", "proxied", "kubeconfig-url"} <= fatal, explain(run)
    for password in ("hunter2-host", "hunter2-down", "prox-pw-9", "kc-pw-3"):
        assert password not in printed(run), (password, explain(run))
        assert password not in (out / "fleet-report.md").read_text()
    # Masked, not dropped: the invocation at -vvv still shows who and where.
    assert "admin:********@127.0.0.1:9" in run.stdout and "puser:********@127.0.0.1:9" in run.stdout, explain(run)
    assert "the Kubernetes API at http://admin:********@127.0.0.1:9 is unreachable" in run.stdout, explain(run)


def test_host_names_that_are_not_one_folder_fail_alone_and_nothing_escapes(tmp_path):
    out = tmp_path / "work" / "out"
    outside = tmp_path / "work" / "outside"
    outside.mkdir(parents=True)
    out.mkdir()
    (out / "linked").symlink_to(outside)  # a per-host folder pointing outside the output directory
    hosts = {name: dict(COMMON) for name in ("../escape", "sub/dir", "..", "linked", "good-one")}
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"vars": {"ansible_python_interpreter": sys.executable},
                                                 "hosts": hosts}}))
    run = run_playbook(TUNE, inventory, extra_vars={"tune_output_dir": str(out)}, env=TEXT)
    assert run.returncode != 0
    failed = {line.split("[", 1)[1].split("]", 1)[0] for line in run.stdout.splitlines()
              if line.startswith("fatal: [")}
    assert failed == {"../escape", "sub/dir", "..", "linked"}, explain(run)
    assert "cannot name an output directory" in run.stdout and "outside the output directory" in run.stdout
    # Only the good host's folder and the fleet report were written; nothing beside or above out/.
    assert sorted(os.listdir(tmp_path / "work")) == ["out", "outside"]
    assert os.listdir(outside) == []
    assert sorted(os.listdir(out)) == ["fleet-report.json", "fleet-report.md", "good-one", "linked"]
    assert (out / "good-one" / "values.yaml").is_file()
    report = (out / "fleet-report.md").read_text()
    failed_section = report.split("## Failed clusters", 1)[1]
    for host in ("../escape", "sub/dir", "linked"):
        assert any(line.startswith(f"| {host} |") for line in failed_section.splitlines()), report


def test_the_role_alone_refuses_an_unsafe_host_name_and_writes_a_safe_one(tmp_path):
    """helm_values through include_role with its argument spec, without tune.yml."""
    playbook = tmp_path / "role.yml"
    out = tmp_path / "out"
    playbook.write_text(yaml.safe_dump([{
        "name": "The role on its own", "hosts": "all", "connection": "local", "gather_facts": False,
        "tasks": [{"name": "Render", "ansible.builtin.include_role": {"name": "velero_ops.tuning.helm_values"},
                   "vars": {"helm_values_velero_version": "1.16.2", "helm_values_chart_version": "10.1.3",
                            "helm_values_cluster": COMMON["velero_cluster"], "helm_values_data": COMMON["velero_data"],
                            "helm_values_output_root": str(out)}}]}]))
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"vars": {"ansible_python_interpreter": sys.executable},
                                                 "hosts": {"../up": {}, "fine": {}}}}))
    run = run_playbook(playbook, inventory, env=TEXT)
    assert run.returncode != 0
    assert "'../up' cannot name an output directory" in run.stdout, explain(run)
    assert sorted(os.listdir(tmp_path)) == ["inventory.yml", "out", "role.yml"]
    assert sorted(os.listdir(out)) == ["fine"]
    assert sorted(os.listdir(out / "fine")) == ["api-time.svg", "report.md", "values.yaml"]
    again = run_playbook(playbook, inventory, env=TEXT, limit="fine")
    assert again.returncode == 0 and "changed=0" in again.stdout, explain(again)
