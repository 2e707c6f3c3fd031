"""Where the CPU went during a measurement: the server, the load generator, and everything else.

The machine has 2 cores shared by the server, the load generator and whatever else runs (other tests,
databases). "other" is the machine's busy time minus the server's and the load generator's; it includes
kernel work on loopback not charged to a process, so it is never zero under load. "background" is the
machine's busy time during one idle second just before the measurement: when it is well above a few %,
something else is running and the figures of that run should not be compared.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from .servers import Target

__all__ = ["CpuShare", "background_pct", "metered"]

T = TypeVar("T")
_TICK = os.sysconf("SC_CLK_TCK")


def _machine_busy_seconds() -> float:
    """Busy CPU seconds of all cores since boot, from the first line of /proc/stat."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    guest = sum(values[8:10]) if len(values) > 9 else 0  # already counted in user/nice
    return (sum(values) - idle - guest) / _TICK


def background_pct(seconds: float = 1.0) -> float:
    """Machine busy % over `seconds` while we load nothing: other tenants of the machine."""
    busy0, wall0 = _machine_busy_seconds(), time.monotonic()
    time.sleep(seconds)
    return 100 * (_machine_busy_seconds() - busy0) / (time.monotonic() - wall0)


def _children_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class CpuShare:
    """Percent of one core over the measured wall time (200% = both cores)."""

    wall_seconds: float
    server_pct: float | None
    machine_pct: float
    background_pct: float

    def with_driver(self, driver_seconds: float) -> dict[str, float | None]:
        driver_pct = 100 * driver_seconds / self.wall_seconds if self.wall_seconds else 0.0
        other = self.machine_pct - driver_pct - (self.server_pct or 0.0)
        return {"server_cpu_pct": None if self.server_pct is None else round(self.server_pct, 1),
                "driver_cpu_pct": round(driver_pct, 1), "machine_cpu_pct": round(self.machine_pct, 1),
                "other_cpu_pct": round(max(0.0, other), 1), "background_cpu_pct": round(self.background_pct, 1)}


def metered(target: Target, action: Callable[[], T]) -> tuple[T, CpuShare, float]:
    """Run `action`; return its result, the CPU shares meanwhile, and CPU used by reaped child processes
    (wrk, or the driver pool) so the caller can count it as load-generator time."""
    background = background_pct()
    server0 = target.process.cpu_seconds() if target.process else None
    machine0, children0, wall0 = _machine_busy_seconds(), _children_seconds(), time.monotonic()
    result = action()
    wall = time.monotonic() - wall0
    machine = _machine_busy_seconds() - machine0
    server = target.process.cpu_seconds() - server0 if target.process and server0 is not None else None
    share = CpuShare(wall_seconds=wall, server_pct=None if server is None else 100 * server / wall,
                     machine_pct=100 * machine / wall, background_pct=background)
    return result, share, _children_seconds() - children0
