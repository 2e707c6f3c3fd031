"""Every name a card module exports exists, so `from idp.cards.x import *` and the docs stay truthful."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import idp.cards

MODULES = sorted(m.name for m in pkgutil.iter_modules(idp.cards.__path__))


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist(name: str) -> None:
    module = importlib.import_module(f"idp.cards.{name}")
    exported = getattr(module, "__all__", None)
    assert exported, f"idp.cards.{name} has no __all__"
    missing = [n for n in exported if not hasattr(module, n)]
    assert missing == []


def test_only_pcsc_imports_pyscard() -> None:
    import pathlib

    root = pathlib.Path(idp.cards.__file__).parent
    importers = sorted(p.name for p in root.glob("*.py") if "from smartcard" in p.read_text()
                       or "import smartcard" in p.read_text())
    assert importers == ["pcsc.py"]
