# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Put kubernetes.core (optional dependency, used only by ``helm_values_apply``) on the dev collection path.

CI cannot reach Galaxy, but PyPI's ``ansible`` wheel carries kubernetes.core. This extracts
just that collection from the pinned wheel into ``.build/collections`` so ansible-lint and
syntax checks resolve ``kubernetes.core.helm``. Users install it the normal way
(``ansible-galaxy collection install kubernetes.core``).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "ansible-12.3.0-py3-none-any.whl"
WHEEL_SHA256 = "cd156f82fa87f7a899212b0efa9f7ca3a24d609212de9f78428a572eb01e5414"
PREFIX = "ansible_collections/kubernetes/core/"


def main(destination: str) -> int:
    target = Path(destination)
    if (target / PREFIX / "MANIFEST.json").exists():
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.check_call([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                               "--no-deps", "--dest", scratch, "ansible==12.3.0"])
        wheel = Path(scratch) / WHEEL
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        if digest != WHEEL_SHA256:
            print(f"refusing {WHEEL}: sha256 {digest} does not match the pinned {WHEEL_SHA256}", file=sys.stderr)
            return 1
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(target, [name for name in archive.namelist() if name.startswith(PREFIX)])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
