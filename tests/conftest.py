# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Make this checkout importable as ``ansible_collections.velero_ops.tuning``.

Tests import plugins by their collection name, exactly as Ansible does. The checkout is
linked into ``.build/collections`` (the same place ``make setup`` uses), so pytest works
from a fresh clone without ``ansible-galaxy collection install``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
COLLECTIONS_ROOT = REPO_ROOT / ".build" / "collections"
_LINK = COLLECTIONS_ROOT / "ansible_collections" / "velero_ops" / "tuning"

if not _LINK.exists():
    _LINK.parent.mkdir(parents=True, exist_ok=True)
    try:
        _LINK.symlink_to(REPO_ROOT, target_is_directory=True)
    except FileExistsError:  # another xdist worker won the race
        pass

if str(COLLECTIONS_ROOT) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS_ROOT))
# Child processes (ansible-playbook, molecule) resolve velero_ops.tuning the same way.
os.environ["ANSIBLE_COLLECTIONS_PATH"] = os.pathsep.join(
    [str(COLLECTIONS_ROOT), os.environ.get("ANSIBLE_COLLECTIONS_PATH", "")]
).rstrip(os.pathsep)

# Shared test helpers (the loopback Kubernetes API test server, fixtures) live in tests/support.
_TESTS_DIR = str(REPO_ROOT / "tests")
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)
# Repository tools the tests also run (tools/schema_gen.py: the committed schemas must match its output).
_TOOLS_DIR = str(REPO_ROOT / "tools")
if _TOOLS_DIR not in sys.path:
    sys.path.insert(0, _TOOLS_DIR)
