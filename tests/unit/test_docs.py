"""The documentation site (docs/, mkdocs.yml): generated pages current, the site builds with --strict, every page
reachable from the home page, nothing pointing outside the repository, the security page's tests real, every
screenshot committed and used.

The Authlib example the integration guide includes runs in tests/e2e/test_docs_example.py; the screenshots are
taken by tests/e2e/test_docs_screenshots.py.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SCRIPT = ROOT / "scripts" / "docs_reference.py"
MKDOCS = Path(sys.executable).parent / "mkdocs"
LINK = re.compile(r"\]\(([^)\s]+?)(?:\s+\"[^\"]*\")?\)")
ENV_NAME = re.compile(r"\bMANDAT_[A-Z0-9]+(?:_[A-Z0-9]+)*\b")
# Paths that leave the repository: the team's notes folder beside the checkout, a parent folder, an absolute path
# on this machine, a home folder. (The folder's name is assembled so that this file does not name it either.)
_NOTES_FOLDER = "sha" + "red"
OUTSIDE = re.compile(r"\.\./" + _NOTES_FOLDER
                     + r"|(?<![\w.])\.\./\.\./|(?:^|[\s(`'\"])(?:/work/|/home/|/root/|/tmp/|~/)")


def docs_reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_reference", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


def pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def links_of(page: Path) -> set[Path]:
    """The pages and files a page links to (relative links only, anchors dropped)."""
    found = set()
    for target in LINK.findall(page.read_text()):
        if "://" in target or target.startswith(("#", "mailto:")):
            continue
        path = target.split("#", 1)[0]
        if path:
            found.add((page.parent / path).resolve())
    return found


def test_generated_pages_are_current() -> None:
    stale = docs_reference().stale_pages()
    assert not stale, (f"stale: {', '.join(str(p.relative_to(ROOT)) for p in stale)}; "
                       "run `make docs-reference` (python scripts/docs_reference.py) and commit the result")


def test_every_variable_the_code_reads_is_in_the_configuration_reference() -> None:
    reference = (DOCS / "reference" / "configuration.md").read_text()
    documented = set(ENV_NAME.findall(reference))
    read = set()
    for source in (ROOT / "idp").rglob("*.py"):
        read.update(name for name in ENV_NAME.findall(source.read_text()) if not name.endswith("_"))
    assert read - documented == set(), "settings read by the code but absent from the configuration reference"
    assert docs_reference().documented_variables() <= documented


def test_the_site_builds_strict(tmp_path: Path) -> None:
    if not MKDOCS.exists():
        pytest.fail("mkdocs is not installed: it is in the `test` extra of pyproject.toml (make .venv/.test)")
    result = subprocess.run(
        [str(MKDOCS), "build", "--strict", "--quiet", "--site-dir", str(tmp_path / "site")], cwd=ROOT,
        capture_output=True, text=True, timeout=120, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    built = {p.relative_to(tmp_path / "site").with_suffix(".md") for p in (tmp_path / "site").rglob("*.html")
             if p.name != "404.html"}
    assert {p.relative_to(DOCS) for p in pages()} <= built


def test_every_page_is_reachable_from_the_home_page() -> None:
    seen: set[Path] = set()
    todo = [(DOCS / "index.md").resolve()]
    while todo:
        page = todo.pop()
        if page in seen or page.suffix != ".md" or not page.exists():
            continue
        seen.add(page)
        todo.extend(links_of(page))
    unreachable = [str(p.relative_to(DOCS)) for p in pages() if p.resolve() not in seen]
    assert not unreachable, f"pages no link from index.md leads to: {unreachable}"


def test_every_page_is_in_the_navigation() -> None:
    nav = (ROOT / "mkdocs.yml").read_text()
    missing = [str(p.relative_to(DOCS)) for p in pages() if str(p.relative_to(DOCS)) not in nav]
    assert not missing


def test_no_page_points_outside_the_repository() -> None:
    offenders = []
    for path in [*pages(), *DOCS.rglob("*.py"), ROOT / "mkdocs.yml", ROOT / "README.md"]:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if OUTSIDE.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
        for target in links_of(path) if path.suffix == ".md" else ():
            if not target.is_relative_to(ROOT):
                offenders.append(f"{path.relative_to(ROOT)}: links to {target}")
    assert not offenders, "\n".join(offenders)


def test_the_outside_path_check_catches_what_it_must() -> None:
    for line in (f"see ../{_NOTES_FOLDER}/design.md", "in /work/notes/x.md", "`~/keys`", "(../../elsewhere.md)"):
        assert OUTSIDE.search(line), line
    for line in ("see [guide](../integration.md)", "docs/img/act-as-fr.png", "`MANDAT_KEYS_DIR`"):
        assert not OUTSIDE.search(line), line


def test_the_security_page_names_real_tests() -> None:
    named = re.findall(r"`(tests/[\w/]+\.py)::(test_\w+)`", (DOCS / "security.md").read_text())
    assert len(named) > 50
    missing = []
    for file, test in named:
        source = ROOT / file
        if not source.exists() or not re.search(rf"^(?:async )?def {test}\(", source.read_text(), re.MULTILINE):
            missing.append(f"{file}::{test}")
    assert not missing, f"security.md names tests that do not exist: {missing}"


def test_screenshots_are_committed_used_and_taken_by_the_browser_test() -> None:
    used = {target for page in pages() for target in links_of(page) if target.suffix == ".png"}
    present = {p.resolve() for p in (DOCS / "img").glob("*.png")}
    assert used <= present, f"pages show missing screenshots: {sorted(str(p) for p in used - present)}"
    assert present <= used, f"screenshots no page shows: {sorted(str(p) for p in present - used)}"
    shots = (ROOT / "tests" / "e2e" / "test_docs_screenshots.py").read_text()
    names = set(re.search(r"SHOTS = \(([^)]*)\)", shots, re.DOTALL).group(1).replace('"', "").replace(",", " ")
                .split())  # type: ignore[union-attr]
    example = re.search(r'EXAMPLE_SHOT = "([^"]+)"', shots).group(1)  # type: ignore[union-attr]
    taken = {f"{name}-{lang}.png" for name in names for lang in ("fr", "en")} | {f"{example}.png"}
    assert {p.name for p in present} == taken
