# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every calibration row through the sizing module: none UNDER, none OVER 4x where the value is the model's choice."""

from __future__ import annotations

import copy
import json
import typing as t

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.velero_ops.tuning.plugins.modules import sizing
from calibration.field_reports import FIELD_REPORTS, REPO_ROOT, judge, load_rows

if not FIELD_REPORTS.exists():
    pytest.skip(f"calibration rows not found at {FIELD_REPORTS} (../shared/calibration/field-reports.yaml relative to "
                f"the repository root); nothing to judge", allow_module_level=True)

ROWS = load_rows()


def run_module(args: dict[str, t.Any], capsys: pytest.CaptureFixture[str]) -> dict[str, t.Any]:
    with patch_module_args(copy.deepcopy(args)):
        with pytest.raises(SystemExit):
            sizing.main()
    result = json.loads(capsys.readouterr().out)
    assert result.get("failed") is not True, result
    return t.cast(dict[str, t.Any], result["recommendation"])


@pytest.mark.parametrize("row", ROWS, ids=[row["id"] for row in ROWS])
def test_row_is_neither_under_nor_over(row: dict[str, t.Any], capsys: pytest.CaptureFixture[str]) -> None:
    verdict = judge(row, run_module(row["sizing_args"], capsys))
    assert not verdict.missing_warnings, f"{row['id']}: no warning with {verdict.missing_warnings}"
    assert not verdict.under, f"{row['id']}: {verdict.recommended_bytes} B is UNDER the field's {row['field_need_bytes']}"
    assert not verdict.over, f"{row['id']}: {verdict.recommended_bytes} B is over 4x the need {verdict.need_bytes} B"


def test_validation_doc_is_current() -> None:
    """docs/model-validation.md is what tools/model_validation.py writes from these rows and this model."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("model_validation", REPO_ROOT / "tools" / "model_validation.py")
    assert spec is not None and spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    markdown, svg = tool.render(ROWS)
    assert (REPO_ROOT / "docs" / "model-validation.md").read_text(encoding="utf-8") == markdown, \
        "run: python tools/model_validation.py"
    assert (REPO_ROOT / "docs" / "model-validation.svg").read_text(encoding="utf-8") == svg, \
        "run: python tools/model_validation.py"
