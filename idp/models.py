"""Imports every model module so `Base.metadata` is complete (Alembic autogenerate, test schemas)."""

from __future__ import annotations

from idp import audit  # noqa: F401
from idp.accounts import models as accounts_models  # noqa: F401
from idp.clients import models as clients_models  # noqa: F401
from idp.db import Base
from idp.grants import models as grants_models  # noqa: F401

metadata = Base.metadata
