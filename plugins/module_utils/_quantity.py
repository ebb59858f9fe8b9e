# Copyright (c) velero_ops.tuning contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Sizes, Kubernetes quantities and durations: parsed and formatted in one place.

Pure Python, no Ansible imports. Every parser raises ``ValueError`` with a message that
names the field and the accepted form, so glue code can hand it to the user unchanged.
"""

from __future__ import annotations

import math
import re
import typing as t

from ._fields import describe_value as _describe
from ._fields import type_name

# Byte units accepted in user-facing size strings. Decimal units follow SI (kB = 1000),
# binary units follow IEC (KiB = 1024); both the Kubernetes spelling (Gi) and the
# storage-vendor spelling (GiB, GB) are accepted because users paste both.
_DECIMAL = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
            "t": 10**12, "tb": 10**12, "p": 10**15, "pb": 10**15, "e": 10**18, "eb": 10**18}
_BINARY = {"ki": 2**10, "kib": 2**10, "mi": 2**20, "mib": 2**20, "gi": 2**30, "gib": 2**30,
           "ti": 2**40, "tib": 2**40, "pi": 2**50, "pib": 2**50, "ei": 2**60, "eib": 2**60}
_BYTE_UNITS = {**_DECIMAL, **_BINARY}

_NUMBER_UNIT = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?|\.[0-9]+)\s*([A-Za-z]*)\s*$")
# Kubernetes quantity grammar (resource.Quantity): digits, optional fraction, then a binary
# suffix, a decimal suffix, or a decimal exponent. One pattern for the parser here and the "pattern" of
# the JSON schemas (ECMA-262 compatible: the sizing-input schema and the per-era Helm values schemas).
QUANTITY_PATTERN = r"^([+]?[0-9]+(?:\.[0-9]*)?|[+]?\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$"
_K8S_QUANTITY = re.compile(QUANTITY_PATTERN)
_K8S_SUFFIX = {"": 1.0, "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15,
               "E": 1e18, "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50, "Ei": 2.0**60}
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)")
_DURATION_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}

SIZE_FORM = "a non-negative integer of bytes or a size string such as 763GB, 1.5Ti or 700Gi"
MEMORY_FORM = "a Kubernetes memory quantity such as 512Mi, 4Gi or 8G"
CPU_FORM = "a Kubernetes CPU quantity such as 500m, 1 or 2.5"
DURATION_FORM = "a Go duration such as 30m, 1h or 168h0m0s"

MiB = 2**20
GiB = 2**30


def parse_size(value: t.Any, field: str, maximum: int | None = None) -> int:
    """Parse a byte size (int or string like ``763GB``/``1.5Ti``) into whole bytes.

    Fractions round up: a size is a capacity and must never shrink by parsing.
    """
    if isinstance(value, bool):
        raise ValueError(f"{field}: expected {SIZE_FORM}, got a boolean")
    if isinstance(value, int):
        result = value
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{field}: expected {SIZE_FORM}, got {_describe(value)}")
        result = math.ceil(value)
    elif isinstance(value, str):
        match = _NUMBER_UNIT.match(value)
        unit = match.group(2).lower() if match else None
        if match is None or unit not in _BYTE_UNITS:
            raise ValueError(f"{field}: expected {SIZE_FORM}, got {_describe(value)}")
        number = float(match.group(1))
        multiplier = _BYTE_UNITS[t.cast(str, unit)]
        # Integers stay exact; only a fractional mantissa goes through float.
        result = int(match.group(1)) * multiplier if match.group(1).isdigit() else math.ceil(number * multiplier)
    else:
        raise ValueError(f"{field}: expected {SIZE_FORM}, got {type_name(value)} {_describe(value)}")
    if result < 0:
        raise ValueError(f"{field}: expected {SIZE_FORM}, got a negative value {_describe(value)}")
    if maximum is not None and result > maximum:
        raise ValueError(f"{field}: {_describe(value)} is larger than the supported maximum of {format_size(maximum)}")
    return result


def parse_quantity(value: t.Any, field: str, form: str = MEMORY_FORM) -> float:
    """Parse a Kubernetes ``resource.Quantity`` string (or a plain number) into base units."""
    if isinstance(value, bool):
        raise ValueError(f"{field}: expected {form}, got a boolean")
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        match = _K8S_QUANTITY.match(value.strip())
        if match is None:
            raise ValueError(f"{field}: expected {form}, got {_describe(value)}")
        suffix = match.group(2) or ""
        factor = 10.0 ** int(suffix[1:]) if suffix[:1] in ("e", "E") else _K8S_SUFFIX[suffix]
        number = float(match.group(1)) * factor
    else:
        raise ValueError(f"{field}: expected {form}, got {type_name(value)} {_describe(value)}")
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{field}: expected {form}, got {_describe(value)}")
    return number


def parse_memory(value: t.Any, field: str) -> int:
    """Memory quantity in whole bytes (rounded up)."""
    return math.ceil(parse_quantity(value, field, MEMORY_FORM))


def parse_cpu_millicores(value: t.Any, field: str) -> int:
    """CPU quantity in whole millicores (rounded up)."""
    return math.ceil(round(parse_quantity(value, field, CPU_FORM) * 1000, 6))


def format_size(num_bytes: float) -> str:
    """Human-readable size for reports, binary units with up to one decimal (``1.5Ti``)."""
    value = float(num_bytes)
    for unit in ("", "Ki", "Mi", "Gi", "Ti", "Pi"):
        if value < 1024 or unit == "Pi":
            text = f"{value:.1f}".rstrip("0").rstrip(".")
            return f"{text}{unit}" if unit else f"{text}B"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def format_memory(num_bytes: int) -> str:
    """Kubernetes memory quantity, rounded UP to a whole Mi (or Gi when it divides evenly).

    Rounding up keeps formatted limits monotone with the bytes they came from.
    """
    if num_bytes <= 0:
        return "0"
    mebibytes = -(-int(num_bytes) // MiB)
    if mebibytes % 1024 == 0:
        return f"{mebibytes // 1024}Gi"
    return f"{mebibytes}Mi"


def format_cpu(millicores: int) -> str:
    """Kubernetes CPU quantity: whole cores as ``2``, otherwise millicores as ``500m``."""
    if millicores <= 0:
        return "0"
    if millicores % 1000 == 0:
        return str(millicores // 1000)
    return f"{millicores}m"


def parse_duration(value: t.Any, field: str) -> float:
    """Go ``time.Duration`` string (``1h``, ``168h0m0s``, ``90s``) in seconds."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{field}: expected {DURATION_FORM}, got {_describe(value)}")
    text = value.strip()
    position = 0
    seconds = 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            break
        seconds += float(match.group(1)) * _DURATION_SECONDS[match.group(2)]
        position = match.end()
    if position != len(text) or position == 0:
        if text == "0":
            return 0.0
        raise ValueError(f"{field}: expected {DURATION_FORM}, got {_describe(value)}")
    return seconds


def format_duration(seconds: float) -> str:
    """Compact Go-style duration (``1h``, ``30m``, ``1h30m``, ``45s``) for flags and reports."""
    total = int(round(seconds))
    if total <= 0:
        return "0s"
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if hours:
        parts.append(f"{hours}h")
    if minutes:
        parts.append(f"{minutes}m")
    if secs:
        parts.append(f"{secs}s")
    return "".join(parts)


def format_seconds(seconds: float) -> str:
    """Readable elapsed time for reports: ``0.4s``, ``12s``, ``3m20s``, ``2h05m``."""
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        minutes, secs = divmod(int(round(seconds)), 60)
        return f"{minutes}m{secs:02d}s"
    hours, rest = divmod(int(round(seconds)), 3600)
    return f"{hours}h{rest // 60:02d}m"
