"""`serve` refuses several workers with the in-process store, and says why."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.e2e.production.components import REPO


def test_several_workers_without_redis_are_refused_with_the_reason(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MANDAT_")}
    env.update({"MANDAT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'm.db'}",
                "MANDAT_KEYS_DIR": str(tmp_path / "keys"), "PYTHONPATH": str(REPO)})
    done = subprocess.run([sys.executable, "-m", "idp", "serve", "--workers", "2", "--port", "1"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    message = " ".join(done.stderr.split())
    assert "--workers 2 needs MANDAT_REDIS_URL" in message
    assert "in-process store" in message and "another process would not find them" in message
