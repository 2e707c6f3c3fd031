"""Build configuration that pyproject.toml cannot express: ship the Alembic migrations inside the package.

The migrations live in `alembic/` at the repository root (where `alembic.ini`, `alembic upgrade head` and
`alembic revision` expect them). The wheel carries that same folder as `idp/_alembic/`, so an installed Mandat
can run `python -m idp migrate` (see idp/migrations.py). Every `idp` sub-package is found automatically; the
non-Python files each package ships (templates, locales, static, data) are listed in pyproject.toml.
"""

from setuptools import find_namespace_packages, setup

setup(
    # Namespace discovery also lists the data folders (idp.http.templates, …) as packages, which is how
    # setuptools wants data folders declared (otherwise it warns "Package would be ignored").
    packages=[*find_namespace_packages(include=["idp", "idp.*"], exclude=["*.__pycache__"]),
              "idp._alembic", "idp._alembic.versions"],
    package_dir={"idp._alembic": "alembic"},
)
