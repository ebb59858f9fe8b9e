# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Judge the sizing model against field reports (../shared/calibration/field-reports.yaml).

A row gives a ``sizing`` input, the value it judges and what the field needed (``peak``, ``oom_at``,
``fixed_with``, bytes). A recommendation is UNDER when its limit is at or below ``oom_at`` or below
``peak``/``fixed_with``; OVER when it is above 4x the need, where the value is the model's own choice
(not Velero's default). Used by tests/calibration/ and tools/model_validation.py.
"""

from __future__ import annotations

import dataclasses
import typing as t
from pathlib import Path

import yaml

from ansible_collections.velero_ops.tuning.plugins.module_utils._quantity import parse_memory

REPO_ROOT = Path(__file__).resolve().parents[2]
FIELD_REPORTS = REPO_ROOT.parent / "shared" / "calibration" / "field-reports.yaml"
OVER_FACTOR = 4.0

MAINTENANCE = "the largest maintenance Job memory limit (global or per-repository)"
SERVER = "server.resources.limits.memory"
NODE_AGENT = "node_agent.resources.limits.memory"


@dataclasses.dataclass(frozen=True)
class Verdict:
    row_id: str
    judged: str
    need_bytes: int | None  # max of peak, fixed_with, oom_at (None: a warnings row)
    recommended_bytes: int | None  # None: no limit (Velero's unbounded default)
    own_choice: bool
    under: bool
    over: bool
    missing_warnings: tuple[str, ...]

    @property
    def ratio(self) -> float | None:
        if self.need_bytes is None or self.recommended_bytes is None:
            return None
        return self.recommended_bytes / self.need_bytes


def load_rows(path: Path = FIELD_REPORTS) -> list[dict[str, t.Any]]:
    with path.open(encoding="utf-8") as handle:
        return list(yaml.safe_load(handle)["rows"])


def _memory(value: str | None) -> int | None:
    if value in (None, "0"):
        return None
    return parse_memory(value, "limit")


def judged_limit(row: dict[str, t.Any], rec: dict[str, t.Any]) -> tuple[int | None, bool]:
    """(limit in bytes or None for no limit, whether the model chose it rather than keeping Velero's default)."""
    judged = row["judged_value"]
    defaults = rec["velero_defaults"]
    if judged == MAINTENANCE:
        maintenance = rec["maintenance"]
        limits = [parse_memory(maintenance["pod_resources"]["memoryLimit"], "maintenance")]
        limits += [parse_memory(entry["pod_resources"]["memoryLimit"], "maintenance")
                   for entry in maintenance["repositories"].values()]
        return max(limits), True
    if judged == SERVER:
        value = rec["server"]["resources"]["limits"]["memory"]
        return parse_memory(value, judged), value != defaults["server.resources.limits.memory"]
    if judged == NODE_AGENT:
        resources = rec["node_agent"]["resources"]
        if resources is None:
            return _memory(defaults["node_agent.resources.limits.memory"]), False
        return parse_memory(resources["limits"]["memory"], judged), True
    raise ValueError(f"{row['id']}: unknown judged_value {judged!r}")


# Warnings rows: the words a warning must contain (case-insensitive), all of them in one warning.
WARNING_CHECKS = {
    "warnings: index-compaction backlog named, with what does and does not clear it": (
        ("index blobs", "backlog", "full maintenance", "fastgc"),),
    "warnings: mmap limit named before the blob count reaches it": (("vm.max_map_count", "65530"),),
}


def judge(row: dict[str, t.Any], rec: dict[str, t.Any]) -> Verdict:
    judged = row["judged_value"]
    if judged in WARNING_CHECKS:
        warnings = [text.lower() for text in rec["warnings"]]
        missing = tuple(" + ".join(words) for words in WARNING_CHECKS[judged]
                        if not any(all(word in text for word in words) for text in warnings))
        return Verdict(row["id"], judged, None, None, False, False, False, missing)
    need = row["field_need_bytes"]
    limit, own = judged_limit(row, rec)
    needed = max(need.get(key, 0) for key in ("peak", "fixed_with", "oom_at"))
    under = limit is not None and (
        ("oom_at" in need and limit <= need["oom_at"])
        or any(key in need and limit < need[key] for key in ("peak", "fixed_with")))
    over = own and limit is not None and limit > OVER_FACTOR * needed
    return Verdict(row["id"], judged, needed, limit, own, under, over, ())
