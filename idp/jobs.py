"""Running the domains' periodic jobs (`idp.domains.Job`) beside the server, for the life of the app.

Each job sleeps one interval, runs, and starts again; a failure is logged with the job's name and retried at the
next interval, never taking the server down. Stopping cancels the sleeping tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from idp.domains import Job

__all__ = ["JobRunner"]

log = logging.getLogger("mandat.jobs")


class JobRunner:
    def __init__(self, jobs: Sequence[Job]) -> None:
        self._jobs = [job for job in jobs if job.every > 0]
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._loop(job), name=f"job:{job.name}") for job in self._jobs]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    @staticmethod
    async def _loop(job: Job) -> None:
        while True:
            await asyncio.sleep(job.every)
            try:
                result = await job.run()
                log.info("job %s done: %s", job.name, result)
            except Exception:
                log.exception("job %s failed; it runs again in %s s", job.name, job.every)
