# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""docs/sizing-model.md states the constants the code uses and the numbers the worked examples produce."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.velero_ops.tuning.plugins.module_utils import _api_load as api
from ansible_collections.velero_ops.tuning.plugins.module_utils import _kopia_memory as km
from ansible_collections.velero_ops.tuning.plugins.module_utils import _recommend as rc
from ansible_collections.velero_ops.tuning.plugins.module_utils._recommend import recommend
from unit.sizing.sizing_strategies import FOUNDING, LARGE_FILES, ROOT, with_version

DOC = (ROOT / "docs" / "sizing-model.md").read_text()


@pytest.mark.parametrize(("value", "text"), [
    (api.REQUEST_SERVICE_SECONDS, "0.002 s"),
    (api.DEFAULT_TARGET_API_SECONDS, "default 60 s"),
    (api.DEFAULT_APF_SHARE, "| 0.25 |"),
    (api.SEAT_SECONDS_PER_REQUEST, "0.1 seat-seconds"),
    (api.apf_qps_bound(), "= 612 QPS"),
    (api.ADDITIONAL_GETS_PER_VOLUME, "`2 x V` additional-item GETs"),
    (api.SERVER_REQUESTS_PER_VOLUME, "`3 x V`"),
    (api.PLUGIN_REQUESTS_PER_VOLUME, "6 x V"),
    (api.OBJECTS_PER_POD, "ceil(objects / 8)"),
    (api.BURST_RATIO_ABOVE_DEFAULT, "ceil(1.5 x qps)"),
    (api.LARGE_COLLECTION_OBJECTS, "1 000 000 objects"),
    (km.ASSUMED_AVERAGE_FILE_BYTES // 1024, "256 KiB"),
    (km.FILES_PER_DIRECTORY, "ceil(F / 10)"),
    (km.DAILY_CONTENT_CHURN, "C x 0.02"),
    (km.INDEX_BLOB_WARNING_THRESHOLD, "index_blobs / 1000"),
    (km.STEADY_STATE_INDEX_HOURS, "+ 1) x 72)"),
    (km.GC_USED_SET_BYTES_PER_CONTENT, "retained x 40 B"),
    (km.GC_WALKER_BYTES_PER_OBJECT, "x 50 B"),
    (km.INDEX_BYTES_PER_CONTENT, "retained x 35 B"),
    (km.GOGC_HEADROOM, "2 x GC sets"),
    (km.UPLOADER_BYTES_PER_OBJECT, "x 500 B"),
    (rc.SERVER_BYTES_PER_OBJECT, "objects x 4 KiB"),
    (rc.SERVER_LISTED_OBJECT_BYTES, "largest_resource_type_objects x 32 KiB"),
    (km.REWRITE_WORKERS_PER_CPU, "2 workers per CPU"),
    (km.INDEX_BLOB_BYTES, "index_blobs x 64 KiB"),
    (km.MMAP_WARNING_BLOBS, "20 000 index blobs"),
    (km.ASSUMED_NODE_CPUS, "16 CPUs x 2 x 3 x 8 MiB"),
    (km.HIGH_FACTOR, "high 1.25 x expected"),
    (km.HIGH_FACTOR_ASSUMED_FILES, "1.5 x when data.files was assumed"),
    (rc.OBSERVED_OOM_STEP, "oom_limit x 1.5"),
    (rc.OBSERVED_PEAK_HEADROOM, "peak x 2"),
    (rc.MINUTES_PER_MAINTENANCE_JOB, "repositories x 2 min"),
    (rc.DOMINANCE_FACTOR, "more than 1.5 x"),
    (rc.MAX_CACHE_LIMIT_MB, "at most 20 000 MB"),
    (km.DENSE_AVERAGE_FILE_BYTES // 1024, "ceil(largest_repository_bytes / 64 KiB)"),
    (rc.NODE_MEMORY_SHARE, "more\nthan 25% of a node's allocatable memory"),
    (rc.ASSUMED_NODE_MEMORY // 2**30, "| 16 GiB allocatable per node for"),
    (km.MAINTENANCE_RUNS_PER_HOUR, "one maintenance session per hour"),
])
def test_constants_are_documented(value: object, text: str) -> None:
    assert text in DOC, f"docs/sizing-model.md should state {text!r} (code value {value!r})"


def test_documented_constants_match_the_code() -> None:
    assert (api.REQUEST_SERVICE_SECONDS, api.DEFAULT_TARGET_API_SECONDS, api.DEFAULT_APF_SHARE) == (0.002, 60.0, 0.25)
    assert (km.ASSUMED_AVERAGE_FILE_BYTES, km.DAILY_CONTENT_CHURN, km.INDEX_BLOB_WARNING_THRESHOLD) == (256 * 1024, 0.02, 1000)
    assert (km.GC_USED_SET_BYTES_PER_CONTENT, km.GC_WALKER_BYTES_PER_OBJECT, km.INDEX_BYTES_PER_CONTENT) == (40, 50, 35)
    assert (rc.SERVER_BYTES_PER_OBJECT, rc.MINUTES_PER_MAINTENANCE_JOB, rc.DOMINANCE_FACTOR) == (4096, 2, 1.5)
    assert api.apf_qps_bound() == 612
    assert (km.DENSE_AVERAGE_FILE_BYTES, rc.NODE_MEMORY_SHARE, rc.ASSUMED_NODE_MEMORY) == (64 * 1024, 0.25, 16 * 2**30)


def test_worked_example_founding_case() -> None:
    rec = recommend(FOUNDING)
    pod = rec["maintenance"]["pod_resources"]
    assert f"| **{pod['memoryRequest']}** |" in DOC
    assert f"**{pod['memoryLimit']}** limit" in DOC
    assert f"{rec['predicted']['maintenance_contents']:,}".replace(",", " ") in DOC
    assert f"{rec['predicted']['api_requests']} requests" in DOC
    upgraded = recommend(with_version(FOUNDING, "1.15.0"))["maintenance"]["pod_resources"]
    assert f"needs {upgraded['memoryRequest']} / {upgraded['memoryLimit']}" in DOC
    healthy = copy.deepcopy(FOUNDING)
    del healthy["data"]["index_blobs"]
    steady = recommend(healthy)["maintenance"]["pod_resources"]
    assert f"{steady['memoryRequest']} / {steady['memoryLimit']}" in DOC


def test_worked_example_large_files() -> None:
    rec = recommend(LARGE_FILES)
    pod = rec["maintenance"]["pod_resources"]
    assert f"| **{pod['memoryRequest']}** |" in DOC
    assert f"**{pod['memoryLimit']}** limit (fixed cost)" in DOC
    assert f"{rec['predicted']['maintenance_contents']:,}".replace(",", " ") + " retained" in DOC
    assert rec["node_agent"]["resources"] is None and "| node-agent | null:" in DOC
