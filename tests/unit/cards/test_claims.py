"""PSC `authMode`: derived from the grant's amr, never assumed."""

from __future__ import annotations


def test_auth_mode_reports_how_the_person_signed_in() -> None:
    from idp.cards.service import auth_mode_for

    assert auth_mode_for(("sc", "pin", "hwk", "mfa")) == "CARD"
    assert auth_mode_for(("hwk", "pin", "mfa")) == "FIDO"
    assert auth_mode_for(("pwd",)) == "PASSWORD"
