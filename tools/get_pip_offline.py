# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Offline stand-in for the get-pip script that ``ansible-test`` downloads.

ansible-test bootstraps pip in each sanity venv from ci-files.testing.ansible.com, which CI
cannot reach. It runs this file as ``python get_pip.py --disable-pip-version-check pip==X
--no-setuptools --no-wheel``; ensurepip plus a pip install from PyPI does the same job.
ensurepip runs in a subprocess: in-process it sets PIP_CONFIG_FILE=/dev/null and the
machine's pip.conf (certificates, index) would be lost for the next call.
"""

from __future__ import annotations

import subprocess
import sys


def main() -> int:
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
    args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
    return subprocess.call([sys.executable, "-m", "pip", "install"] + args)


if __name__ == "__main__":
    sys.exit(main())
