"""Where domain packages plug in: routes + claims + login methods (`extension`), and demo data (`seed_demo`).

Each entry is `module:function`. A package that has not written its module yet is simply absent; any other
import error propagates (a broken package must not be silently dropped).
"""

from __future__ import annotations

import importlib
from typing import Any

EXTENSIONS = (
    "idp.enrollment.views:extension",
    "idp.cards.views:extension",
    "idp.passkeys.views:extension",
)

DEMO_SEEDERS = (
    "idp.enrollment.demo:seed_demo",
    "idp.cards.demo:seed_demo",
)


def load(entries: tuple[str, ...]) -> list[Any]:
    found = []
    for entry in entries:
        module_name, _, attribute = entry.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        function = getattr(module, attribute, None)
        if function is not None:
            found.append(function)
    return found
