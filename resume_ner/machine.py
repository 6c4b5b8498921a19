"""What this machine offers the process: the CPUs it may run on."""

from __future__ import annotations

import os


def usable_cpus() -> int:
    """The CPUs this process may use (its affinity mask, e.g. a container's share)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
