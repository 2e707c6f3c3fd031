"""The one acr/amr table (idp/oidc/assurance.py): every sign-in's level, and what a session may bind."""

from __future__ import annotations

import pytest

from idp.oidc import assurance
from idp.oidc.assurance import acr_rank


@pytest.mark.parametrize(
    ("key_level", "uv", "after_password", "amr", "acr"),
    [
        ("eidas3", True, False, ("hwk", "pin", "mfa"), "eidas3"),
        ("eidas2", True, False, ("hwk", "user", "mfa"), "eidas2"),
        ("eidas2", False, True, ("pwd", "hwk", "mfa"), "eidas2"),
        ("eidas3", False, True, ("pwd", "hwk", "mfa"), "eidas2"),
        ("eidas3", True, True, ("pwd", "hwk", "pin", "mfa"), "eidas3"),
        ("eidas3", False, False, ("hwk",), "eidas1"),
        ("eidas2", False, False, ("hwk",), "eidas1"),
        # A key bound from a password-only sign-in: one factor's worth, never `mfa`, even after the password.
        ("eidas1", True, False, ("hwk", "user"), "eidas1"),
        ("eidas1", True, True, ("pwd", "hwk", "user"), "eidas1"),
        ("eidas1", False, True, ("pwd", "hwk"), "eidas1"),
    ],
)
def test_passkey_assurance(key_level: str, uv: bool, after_password: bool, amr: tuple[str, ...], acr: str) -> None:
    level = assurance.passkey(key_level, user_verified=uv, after_password=after_password)
    assert (level.amr, level.acr) == (amr, acr)
    assert level.binds_at == level.acr


def test_password_card_and_activation_rows() -> None:
    assert assurance.password() == assurance.Assurance("eidas1", ("pwd",), "eidas1")
    assert assurance.card() == assurance.Assurance("eidas3", ("sc", "pin", "hwk", "mfa"), "eidas3")
    # The fresh mailed code lets the activation session bind a second factor, not sign in higher.
    assert assurance.activation() == assurance.Assurance("eidas1", ("pwd",), "eidas2")


def test_acr_rank_orders_levels_and_ranks_unknown_lowest() -> None:
    assert [acr_rank(a) for a in (None, "x", "eidas1", "eidas2", "eidas3")] == [0, 0, 1, 2, 3]
    assert assurance.lowest("eidas3", "eidas1", "eidas2") == "eidas1"
