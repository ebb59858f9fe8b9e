#!/usr/bin/python
# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This is a documentation-only module: the work is done by the action plugin of the same name on the
# controller (plugins/action/fleet_report.py).

from __future__ import annotations

DOCUMENTATION = r"""
module: fleet_report
short_description: Markdown table of a tuning run over a fleet of Velero clusters, one row per cluster
version_added: 0.1.0
description:
  - Collects, for every host in O(hosts), the summary the C(velero_ops.tuning.helm_values) role left in the host
    variable named by O(summary_var), or the failure recorded in O(failure_var), and renders one Markdown table with
    one row per cluster (Velero and chart version, client QPS/burst before and after, maintenance memory, modeled
    throttling, conflicts, warnings, link to the cluster's report). Failed clusters are listed with their message.
  - Hosts that have neither variable (for example left out by C(--limit)) get no row.
  - Runs on the controller and writes nothing; write RV(content) with M(ansible.builtin.copy).
author:
  - velero_ops maintainers (@velero-ops)
extends_documentation_fragment:
  - velero_ops.tuning.attributes
attributes:
  check_mode:
    support: full
    details:
      - Returns the same result; it never changes anything.
  diff_mode:
    support: none
  idempotent:
    support: full
    details:
      - The table is sorted by cluster and has no timestamps; C(changed) is always V(false).
  action:
    support: full
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
options:
  hosts:
    description: Inventory hosts to report on. Defaults to every host of the inventory (C(groups['all'])).
    type: list
    elements: str
  summary_var:
    description: Host variable holding the cluster's summary (the C(summary) returned by M(velero_ops.tuning.render_values)).
    type: str
    default: helm_values_summary
  failure_var:
    description: Host variable holding the failure of a cluster, a string or a mapping with C(msg) and C(task).
    type: str
    default: tune_failure
seealso:
  - module: velero_ops.tuning.render_values
"""

EXAMPLES = r"""
- name: Render the fleet report of every host that ran
  velero_ops.tuning.fleet_report:
  register: fleet

- name: Write it
  ansible.builtin.copy:
    content: "{{ fleet.content }}"
    dest: out/fleet-report.md
    mode: "0644"
"""

RETURN = r"""
content:
  description: The Markdown report.
  returned: success
  type: str
rows:
  description: One entry per reported cluster, sorted by name when rendered.
  returned: success
  type: list
  elements: dict
tuned_count:
  description: Clusters with a summary.
  returned: success
  type: int
failed_count:
  description: Clusters with a failure.
  returned: success
  type: int
"""
