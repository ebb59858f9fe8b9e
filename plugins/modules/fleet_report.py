#!/usr/bin/python
# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This is a documentation-only module: the work is done by the action plugin of the same name on the
# controller (plugins/action/fleet_report.py).

from __future__ import annotations

DOCUMENTATION = r"""
module: fleet_report
short_description: Markdown table of a tuning run over a fleet of Velero clusters, one row per inventory cluster
version_added: 0.1.0
description:
  - Collects, for every host in O(hosts), the summary the C(velero_ops.tuning.helm_values) role left in the host
    variable named by O(summary_var), or the failure recorded in O(failure_var), and renders one Markdown table with
    one row per cluster (Velero and chart version, client QPS/burst before and after as written, maintenance memory
    of the global and the largest per-repository entry, modeled throttling with the written values, conflicts,
    warnings, link to the cluster's report). Failed clusters are listed with their message.
  - The report covers every host of O(inventory_hosts). A host this run did not tune (left out by C(--limit)) keeps
    its row from the previous run, read from O(previous) (the RV(sidecar) an earlier run wrote), marked as from an
    earlier run with that run's date; a host never tuned is listed as not tuned yet. Hosts no longer in the
    inventory are dropped.
  - A row equal to the previous run's keeps its date, so a second run with the same inputs changes neither file.
  - Runs on the controller. With O(output_dir) it writes C(fleet-report.md) (RV(content)) and C(fleet-report.json)
    (RV(sidecar)) there itself, as M(ansible.builtin.copy) would (temporary file then rename, O(mode), O(backup),
    check mode, diff); without it, it writes nothing.
author:
  - velero_ops maintainers (@velero-ops)
extends_documentation_fragment:
  - velero_ops.tuning.attributes
attributes:
  check_mode:
    support: full
    details:
      - Returns the same result and reports what writing O(output_dir) would change; writes nothing.
  diff_mode:
    support: full
    details:
      - With O(output_dir), the diff of each file that changes.
  idempotent:
    support: full
    details:
      - The table is sorted by cluster and has no timestamps; a second run with the same inputs changes no file.
  action:
    support: full
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
options:
  hosts:
    description:
      - Hosts of this run (for example C(ansible_play_hosts_all)). Defaults to O(inventory_hosts).
    type: list
    elements: str
  inventory_hosts:
    description: Every cluster the report covers. Defaults to every host of the inventory (C(groups['all'])).
    type: list
    elements: str
  previous:
    description:
      - Path, on the controller, of the previous run's C(fleet-report.json) (RV(sidecar)). Missing means no earlier
        run; an unreadable file is ignored with a warning.
    type: path
  summary_var:
    description:
      - Host variable holding the cluster's summary (the C(summary) returned by M(velero_ops.tuning.render_values)),
        or the registered result of M(velero_ops.tuning.render_values) itself (its C(summary) is used).
    type: str
    default: helm_values_summary
  failure_var:
    description: Host variable holding the failure of a cluster, a string or a mapping with C(msg) and C(task).
    type: str
    default: tune_failure
  result_vars:
    description:
      - Host variables holding registered results of the per-cluster tasks, in order. A host whose first failed
        result is among them gets a failed row with that result's C(msg) (for plays that let a failing host fail
        and write the report in an C(always) section, as C(playbooks/tune.yml) does). The row's versions come from
        the host variables C(velero_version) and C(velero_chart_version).
    type: list
    elements: str
    default: []
  output_dir:
    description: Directory, on the controller, to write C(fleet-report.md) and C(fleet-report.json) into (created if
      missing). Unset, nothing is written.
    type: path
  mode:
    description: Permissions of the written files.
    type: raw
    default: "0644"
  backup:
    description: Keep a timestamped copy of a file before it is replaced (named as M(ansible.builtin.copy) names it).
    type: bool
    default: false
seealso:
  - module: velero_ops.tuning.render_values
"""

EXAMPLES = r"""
- name: Write the fleet report into out/, keeping rows of hosts this run left out
  velero_ops.tuning.fleet_report:
    hosts: "{{ ansible_play_hosts_all }}"
    previous: out/fleet-report.json
    output_dir: out
  run_once: true

- name: Or render it only, and write it yourself
  velero_ops.tuning.fleet_report:
    hosts: "{{ ansible_play_hosts_all }}"
    previous: out/fleet-report.json
  register: fleet
  run_once: true

- name: Write it
  ansible.builtin.copy:
    content: "{{ fleet.content }}"
    dest: out/fleet-report.md
    mode: "0644"
  run_once: true

- name: Write the rows for the next run
  ansible.builtin.copy:
    content: "{{ fleet.sidecar }}"
    dest: out/fleet-report.json
    mode: "0644"
  run_once: true
"""

RETURN = r"""
content:
  description: The Markdown report.
  returned: success
  type: str
sidecar:
  description:
    - JSON text of RV(rows) for C(fleet-report.json); the next run reads it through O(previous).
    - Each row has C(run_date), the ISO date of the run that produced it, and C(earlier_run) when it was carried
      over.
  returned: success
  type: str
rows:
  description: One entry per inventory cluster, sorted by name.
  returned: success
  type: list
  elements: dict
tuned_count:
  description: Clusters of this run with a summary.
  returned: success
  type: int
failed_count:
  description: Clusters of this run with a failure.
  returned: success
  type: int
earlier_count:
  description: Rows carried over from an earlier run.
  returned: success
  type: int
files:
  description: With O(output_dir), each written file's C(path), whether it C(changed), and C(backup_file) when one
    was kept.
  returned: when O(output_dir) is set
  type: dict
"""
