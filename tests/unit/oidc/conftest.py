"""Protocol tests: the shared flow module gets pytest's assertion messages too."""

import pytest

pytest.register_assert_rewrite("tests.unit.oidc.flows")
