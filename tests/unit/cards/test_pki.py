"""Chain validation: one named test per refusal, asserting the exact error code."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from idp.cards.crl import CrlStore
from idp.cards.errors import (
    BadSignature,
    CardError,
    CertificateExpired,
    CertificateNotYetValid,
    CertificateRevoked,
    InvalidCertificate,
    NotClientAuth,
    RevocationUnknown,
    UnknownCA,
)
from idp.cards.pki import ChainValidator, load_certificates
from idp.cards.testpki import CertificateAuthority, GeneratedPki, issue_card_certificate, load_ca, make_crl, new_rsa_key

from .conftest import REVOKED_ID, VALID_ID

NOW = dt.datetime.now(dt.UTC)


def card_der(pki: GeneratedPki, national_id: str) -> bytes:
    return (pki.card_dirs[national_id] / "cert.der").read_bytes()


def issuing_ca(pki: GeneratedPki) -> CertificateAuthority:
    return load_ca(pki.intermediates, pki.out_dir / "private" / "personnes.key.pem")


def der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


def validator_for(pki: GeneratedPki, crl_paths: list[Path] | None = None, *, require: bool = True) -> ChainValidator:
    crls = CrlStore(list(pki.crl_paths) if crl_paths is None else crl_paths, require=require)
    return ChainValidator(load_certificates(pki.trust_anchors), load_certificates(pki.intermediates), crls)


def test_valid_card_yields_its_national_id_and_full_chain(validator: ChainValidator, pki: GeneratedPki) -> None:
    card = validator.validate(card_der(pki, VALID_ID))
    assert card.national_id == VALID_ID
    assert [c.subject.rfc4514_string().split(",")[0] for c in card.chain] == [
        f"CN={VALID_ID}", "CN=TEST AC IGC-SANTE ELEMENTAIRE PERSONNES", "CN=TEST AC RACINE IGC-SANTE ELEMENTAIRE",
    ]


def test_expired_card_is_certificate_expired(validator: ChainValidator, pki: GeneratedPki) -> None:
    with pytest.raises(CertificateExpired) as caught:
        validator.validate(card_der(pki, VALID_ID), now=NOW + dt.timedelta(days=1200))
    assert caught.value.code == "certificate_expired"


def test_card_not_valid_yet_is_refused(validator: ChainValidator, pki: GeneratedPki) -> None:
    with pytest.raises(CertificateNotYetValid) as caught:
        validator.validate(card_der(pki, VALID_ID), now=NOW - dt.timedelta(days=3))
    assert caught.value.code == "certificate_not_yet_valid"


def test_revoked_card_is_certificate_revoked(validator: ChainValidator, pki: GeneratedPki) -> None:
    with pytest.raises(CertificateRevoked) as caught:
        validator.validate(card_der(pki, REVOKED_ID))
    assert caught.value.code == "certificate_revoked"
    assert caught.value.as_json() == {"error": "certificate_revoked",
                                     "error_description": "The card certificate has been revoked."}


def test_card_from_another_hierarchy_is_unknown_ca(pki: GeneratedPki, tmp_path: Path) -> None:
    from idp.cards.testpki import DEMO_PROFESSIONALS, make_test_pki

    stranger = make_test_pki(tmp_path, DEMO_PROFESSIONALS[:1])
    only_root = ChainValidator(load_certificates(pki.trust_anchors), [], CrlStore(list(pki.crl_paths)))
    with pytest.raises(UnknownCA) as caught:
        only_root.validate(card_der(stranger, VALID_ID))
    assert caught.value.code == "unknown_ca"


def test_look_alike_issuer_with_another_key_is_bad_signature(validator: ChainValidator,
                                                             other_pki: GeneratedPki) -> None:
    # Same issuer name as the trusted CA, signed by a different key: name matching alone must not pass.
    with pytest.raises(BadSignature) as caught:
        validator.validate(card_der(other_pki, VALID_ID))
    assert caught.value.code == "bad_signature"


def test_look_alike_intermediate_supplied_by_the_client_is_bad_signature(validator: ChainValidator,
                                                                         other_pki: GeneratedPki) -> None:
    forged_intermediate = other_pki.intermediates.read_bytes()
    intermediate_der = der(x509.load_pem_x509_certificate(forged_intermediate))
    with pytest.raises(BadSignature):
        validator.validate(card_der(other_pki, VALID_ID), [intermediate_der])


def test_card_without_client_auth_is_not_client_auth(validator: ChainValidator, pki: GeneratedPki) -> None:
    certificate = issue_card_certificate(issuing_ca(pki), VALID_ID, "MEDECIN", "CLAIRE",
                                         new_rsa_key().public_key(), client_auth=False)
    with pytest.raises(NotClientAuth) as caught:
        validator.validate(der(certificate))
    assert caught.value.code == "not_client_auth"


def test_card_with_inconsistent_national_id_is_invalid_certificate(validator: ChainValidator,
                                                                   pki: GeneratedPki) -> None:
    bad_luhn = VALID_ID[:-1] + str((int(VALID_ID[-1]) + 1) % 10)
    certificate = issue_card_certificate(issuing_ca(pki), bad_luhn, "MEDECIN", "CLAIRE",
                                         new_rsa_key().public_key())
    with pytest.raises(InvalidCertificate):
        validator.validate(der(certificate))


def test_garbage_is_invalid_certificate(validator: ChainValidator) -> None:
    with pytest.raises(InvalidCertificate) as caught:
        validator.validate(b"\x30\x03\x02\x01\x00")
    assert caught.value.code == "invalid_certificate"


def test_without_any_crl_revocation_is_unknown(pki: GeneratedPki) -> None:
    with pytest.raises(RevocationUnknown) as caught:
        validator_for(pki, []).validate(card_der(pki, VALID_ID))
    assert caught.value.code == "revocation_unknown"


def test_without_crl_and_not_required_the_card_passes(pki: GeneratedPki) -> None:
    assert validator_for(pki, [], require=False).validate(card_der(pki, VALID_ID)).national_id == VALID_ID


def test_expired_crl_does_not_count(pki: GeneratedPki) -> None:
    with pytest.raises(RevocationUnknown):
        validator_for(pki).validate(card_der(pki, VALID_ID), now=NOW + dt.timedelta(days=8))


def test_crl_signed_by_another_key_is_ignored(pki: GeneratedPki, other_pki: GeneratedPki) -> None:
    # The look-alike CA's CRL names the same issuer but must not vouch for (or revoke) our cards.
    with pytest.raises(RevocationUnknown):
        validator_for(pki, [pki.crl_paths[0], other_pki.crl_paths[1]]).validate(card_der(pki, VALID_ID))


def test_crl_file_is_reloaded_when_it_changes(pki: GeneratedPki, tmp_path: Path) -> None:
    crl_file = tmp_path / "personnes.crl.pem"
    crl_file.write_bytes(pki.crl_paths[1].read_bytes())
    store = CrlStore([pki.crl_paths[0], crl_file])
    validator = ChainValidator(load_certificates(pki.trust_anchors), load_certificates(pki.intermediates), store)
    validator.validate(card_der(pki, VALID_ID))

    serial = x509.load_der_x509_certificate(card_der(pki, VALID_ID)).serial_number
    crl_file.write_bytes(make_crl(issuing_ca(pki), [serial], NOW).public_bytes(serialization.Encoding.DER))
    os.utime(crl_file, (1, 1))  # a new mtime even on filesystems with coarse timestamps
    store.reload_files()
    with pytest.raises(CertificateRevoked):
        validator.validate(card_der(pki, VALID_ID))


async def test_refresh_if_due_waits_for_the_interval(pki: GeneratedPki, tmp_path: Path) -> None:
    now = [0.0]
    crl_file = tmp_path / "crl.pem"
    crl_file.write_bytes(pki.crl_paths[1].read_bytes())
    store = CrlStore([crl_file], refresh_seconds=60, clock=lambda: now[0])
    await store.refresh_if_due()
    crl_file.write_bytes(b"broken")
    os.utime(crl_file, (2, 2))
    now[0] = 30
    await store.refresh_if_due()  # not due: the broken file is not even read
    assert store.sources == (str(crl_file),)
    now[0] = 61
    await store.refresh_if_due()  # due: the broken file is read, logged, and the previous CRL kept
    assert store.sources == (str(crl_file),)


def test_every_chain_error_has_a_distinct_stable_code() -> None:
    errors = [CertificateExpired, CertificateRevoked, UnknownCA, BadSignature, NotClientAuth]
    codes = [e.code for e in errors]
    assert codes == ["certificate_expired", "certificate_revoked", "unknown_ca", "bad_signature", "not_client_auth"]
    assert all(issubclass(e, CardError) for e in errors)
