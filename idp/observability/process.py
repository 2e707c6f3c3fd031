"""What `serve` prepares in the supervising process before any worker (or prometheus_client) is imported."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from idp.settings import Settings

__all__ = ["MULTIPROC_ENV", "prepare_multiprocess"]

# prometheus_client reads it once, when first imported: workers inherit it from `serve`'s environment.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess(settings: Settings) -> Path:
    """Point prometheus_client at an empty folder shared by this server's processes (MANDAT_METRICS_DIR, or a
    fresh one under the temporary directory). Values left by a previous run are removed."""
    folder = Path(settings.metrics_dir) if settings.metrics_dir else Path(tempfile.mkdtemp(prefix="mandat-metrics-"))
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True, mode=0o700)
    os.environ[MULTIPROC_ENV] = str(folder)
    return folder
