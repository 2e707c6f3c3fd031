"""Browser-test setup for passkeys.

tests/e2e has no __init__.py yet, so pytest imports this folder as a top-level package and the repository root
is not on sys.path; the shim below makes `tests.*` importable. Remove it once tests/e2e/__init__.py exists.
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[3])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
