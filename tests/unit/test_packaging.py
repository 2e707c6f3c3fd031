"""The Dockerfile's shape (no Docker daemon needed) and where migrations are found. The wheel itself is built,
installed and served in tests/e2e/test_packaging.py."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from idp import migrations

REPO = Path(__file__).resolve().parents[2]


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments and blank lines dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    result = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions((REPO / "Dockerfile").read_text()):
        if keyword == "FROM":
            found.append([])
        if found:
            found[-1].append((keyword, rest))
    return found


def test_dockerfile_builds_a_wheel_and_installs_only_that() -> None:
    *builders, final = stages()
    assert builders, "multi-stage: a builder stage, then the image"
    builder = builders[-1]
    copied = " ".join(rest for keyword, rest in builder if keyword == "COPY")
    # Everything the wheel is built from (tests/e2e/test_packaging.py builds from the same files).
    for source in ("pyproject.toml", "setup.py", "README.md", "alembic", "idp"):
        assert re.search(rf"(^|\s){re.escape(source)}(\s|$)", copied), source
    assert any(keyword == "RUN" and "pip wheel" in rest for keyword, rest in builder)

    assert not [rest for keyword, rest in final if keyword in {"COPY", "ADD"}], "the image copies no source"
    install = [rest for keyword, rest in final if keyword == "RUN" and "pip install" in rest]
    assert install and re.search(r"from=builder", install[0]) and ".whl" in install[0]


def test_dockerfile_runs_unprivileged_with_a_stdlib_healthcheck() -> None:
    final = stages()[-1]
    users = [rest for keyword, rest in final if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    (healthcheck,) = [rest for keyword, rest in final if keyword == "HEALTHCHECK"]
    assert "/healthz" in healthcheck and "python" in healthcheck
    assert "curl" not in healthcheck and "wget" not in healthcheck  # not in slim images

    env = dict(re.findall(r"(MANDAT_\w+)=(\S+)", " ".join(rest for keyword, rest in final if keyword == "ENV")))
    volumes = [v for keyword, rest in final if keyword == "VOLUME" for v in re.findall(r"/[\w/.-]+", rest)]
    workdir = [rest for keyword, rest in final if keyword == "WORKDIR"][-1]
    # Writable paths only under declared volumes: the keys, the SQLite file and the working directory.
    keys_dir = Path(env["MANDAT_KEYS_DIR"])
    database = Path(env["MANDAT_DATABASE_URL"].removeprefix("sqlite+aiosqlite:///"))
    for path in (keys_dir, database.parent, Path(workdir)):
        assert any(path.is_relative_to(volume) for volume in volumes), path
    entry = [shlex.split(rest) for keyword, rest in final if keyword == "ENTRYPOINT"]
    assert entry and "idp" in entry[-1][-1]


def test_no_keys_enter_the_image() -> None:
    for keyword, rest in (i for stage in stages() for i in stage):
        if keyword in {"COPY", "ADD"}:
            assert "keys" not in rest, rest
    ignored = (REPO / ".dockerignore").read_text().splitlines()
    assert "*" in ignored, "the build context is an allow-list"
    assert not any(line.startswith("!") and "keys" in line for line in ignored)


def test_migrations_come_from_the_checkout_here() -> None:
    # In a checkout (and an editable install) alembic/ is used in place; a wheel ships it as idp/_alembic.
    assert migrations.script_location() == REPO / "alembic"
    assert (migrations.script_location() / "versions").is_dir()
