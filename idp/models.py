"""Imports every model module so `Base.metadata` is complete (Alembic autogenerate, test schemas)."""

from __future__ import annotations

from idp import audit  # noqa: F401
from idp.accounts import models as accounts_models  # noqa: F401
from idp.cards import models as cards_models  # noqa: F401
from idp.clients import models as clients_models  # noqa: F401
from idp.db import Base
from idp.delegation import models as delegation_models  # noqa: F401
from idp.enrollment import models as enrollment_models  # noqa: F401
from idp.grants import models as grants_models  # noqa: F401
from idp.passkeys import models as passkeys_models  # noqa: F401

metadata = Base.metadata
