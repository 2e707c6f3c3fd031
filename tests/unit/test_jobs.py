"""The periodic job runner: runs each job every interval, survives a failing run, stops cleanly."""

from __future__ import annotations

import asyncio
import logging

import pytest

from idp.domains import Job
from idp.jobs import JobRunner


async def test_a_job_runs_every_interval_and_a_failure_does_not_stop_it(caplog: pytest.LogCaptureFixture) -> None:
    runs: list[int] = []

    async def flaky() -> int:
        runs.append(len(runs))
        if len(runs) == 1:
            raise RuntimeError("database away")
        return len(runs)

    runner = JobRunner([Job("flaky", 0.01, flaky), Job("off", 0, flaky)])
    with caplog.at_level(logging.ERROR, logger="mandat.jobs"):
        runner.start()
        for _ in range(200):
            if len(runs) >= 3:
                break
            await asyncio.sleep(0.01)
        await runner.stop()
    assert len(runs) >= 3
    assert "job flaky failed; it runs again in 0.01 s" in caplog.text
    settled = len(runs)
    await asyncio.sleep(0.05)
    assert len(runs) == settled  # stopped for good
