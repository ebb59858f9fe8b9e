# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A clock for deadline tests: it only moves when the code under test sleeps (waits are counted, not spent)."""

from __future__ import annotations


class FakeTime:
    """Pass ``clock`` and ``sleep`` to the code under test; ``slept`` lists every wait it asked for."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
