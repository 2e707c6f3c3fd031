"""A test PKI modelled on IGC-Santé: root → "TEST AC IGC-SANTE ELEMENTAIRE PERSONNES" → one card per professional.

`make_test_pki(out_dir, professionals)` writes everything the tests, the demo and the virtual card need:

    trust-anchors.pem           the root (MANDAT_CARDS_TRUST_ANCHORS)
    intermediates.pem           the issuing CA (MANDAT_CARDS_INTERMEDIATES)
    crl/root.crl.pem            CRL of the root (covers the issuing CA)          } MANDAT_CARDS_CRL_PATHS
    crl/personnes.crl.pem       CRL of the issuing CA (lists revoked demo cards) }
    private/*.key.pem           CA keys (mode 0600), to issue more test cards
    cards/<national id>/        cert.der, cert.pem, key.pem (mode 0600): one virtual card each
    directory.txt               a PS_LibreAcces extract listing the demo professionals (`directory import`)
    manifest.json               who is who, and which cards are revoked

Every name says TEST; nothing here may be configured as a production trust anchor.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from idp.cards.emulator import CERT_FILE_NAME, KEY_FILE_NAME
from idp.cards.fields import PS_LIBRE_ACCES_HEADER, extract_line
from idp.cards.luhn import national_id_from_rpps
from idp.cards.pki import UPN_DOMAIN, UPN_OID

__all__ = [
    "DEMO_PROFESSIONALS",
    "CertificateAuthority",
    "DemoProfessional",
    "GeneratedPki",
    "demo_extract",
    "issue_card_certificate",
    "load_ca",
    "make_crl",
    "make_test_pki",
    "new_rsa_key",
]

ROOT_NAME = "TEST AC RACINE IGC-SANTE ELEMENTAIRE"
ISSUING_NAME = "TEST AC IGC-SANTE ELEMENTAIRE PERSONNES"
ORGANIZATION = "MANDAT TEST PKI"


@dataclass(frozen=True, slots=True)
class DemoProfessional:
    rpps: str  # 11 digits, Luhn check digit last
    family_name: str
    given_name: str
    revoked: bool = False
    profession: str = "10"  # 10 médecin, 21 pharmacien, 60 infirmier
    structure: str = "R10000000000001"  # identifiant technique de la structure
    structure_name: str = "CABINET MEDICAL DE DEMONSTRATION"

    @property
    def national_id(self) -> str:
        return national_id_from_rpps(self.rpps)


DEMO_PROFESSIONALS: tuple[DemoProfessional, ...] = (
    DemoProfessional("10001045367", "MEDECIN", "CLAIRE"),
    DemoProfessional("10002367406", "INFIRMIER", "PAUL", profession="60", structure="F0B0172805",
                     structure_name="HOPITAL DE DEMONSTRATION"),
    DemoProfessional("10003462842", "PHARMACIEN", "LUC", revoked=True, profession="21",
                     structure="R10000000000002", structure_name="PHARMACIE DE DEMONSTRATION"),
)


@dataclass(frozen=True, slots=True)
class CertificateAuthority:
    certificate: x509.Certificate
    key: rsa.RSAPrivateKey


@dataclass(frozen=True, slots=True)
class GeneratedPki:
    """Where `make_test_pki` wrote each piece."""

    out_dir: Path
    trust_anchors: Path
    intermediates: Path
    crl_paths: tuple[Path, ...]
    card_dirs: dict[str, Path]  # national id → card folder
    revoked: frozenset[str]  # national ids whose card is revoked

    def env(self) -> dict[str, str]:
        """The MANDAT_CARDS_* variables that make the IdP trust this PKI."""
        return {
            "MANDAT_CARDS_TRUST_ANCHORS": str(self.trust_anchors),
            "MANDAT_CARDS_INTERMEDIATES": str(self.intermediates),
            "MANDAT_CARDS_CRL_PATHS": ",".join(str(p) for p in self.crl_paths),
        }


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(common_name: str, **extra: str) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                  x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION)]
    if "surname" in extra:
        attributes.append(x509.NameAttribute(NameOID.SURNAME, extra["surname"]))
    if "given_name" in extra:
        attributes.append(x509.NameAttribute(NameOID.GIVEN_NAME, extra["given_name"]))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                         encipher_only=False, decipher_only=False)


def _make_ca(name: str, issuer: CertificateAuthority | None, path_length: int,
             now: dt.datetime) -> CertificateAuthority:
    key = new_rsa_key()
    subject = _name(name)
    signer_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650 if issuer is None else 3000))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()),
                       critical=False)
    )
    return CertificateAuthority(builder.sign(signer_key, hashes.SHA256()), key)


def issue_card_certificate(ca: CertificateAuthority, national_id: str, family_name: str, given_name: str,
                           public_key: rsa.RSAPublicKey, *, client_auth: bool = True,
                           not_before: dt.datetime | None = None, lifetime_days: int = 1095) -> x509.Certificate:
    """A CPS-like authentication certificate: national id in CN and in the UPN `<id>@carte-cps.fr`.

    `client_auth=False` leaves out the clientAuth EKU (and uses emailProtection), to test refusal.
    """
    start = not_before or dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    upn = x509.OtherName(UPN_OID, _der_utf8_string(f"{national_id}@{UPN_DOMAIN}"))
    eku = ExtendedKeyUsageOID.CLIENT_AUTH if client_auth else ExtendedKeyUsageOID.EMAIL_PROTECTION
    return (
        x509.CertificateBuilder()
        .subject_name(_name(national_id, surname=family_name, given_name=given_name))
        .issuer_name(ca.certificate.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=lifetime_days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
        .add_extension(x509.SubjectAlternativeName([upn]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
        .sign(ca.key, hashes.SHA256())
    )


def _der_utf8_string(value: str) -> bytes:
    encoded = value.encode("utf-8")
    if len(encoded) >= 128:
        raise ValueError("UPN too long for a short-form DER length")
    return bytes([0x0C, len(encoded)]) + encoded


def make_crl(ca: CertificateAuthority, revoked_serials: list[int], now: dt.datetime,
             next_update: dt.timedelta = dt.timedelta(days=7)) -> x509.CertificateRevocationList:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.certificate.subject)
        .last_update(now - dt.timedelta(minutes=5))
        .next_update(now + next_update)
        .add_extension(x509.CRLNumber(1), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
    )
    for serial in revoked_serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now - dt.timedelta(minutes=5))
            .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False).build()
        )
    return builder.sign(ca.key, hashes.SHA256())


def _write(path: Path, content: bytes, *, secret: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if secret:
        # Create with 0600 from the start so the key is never readable by others, even briefly.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
    else:
        path.write_bytes(content)


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def make_test_pki(out_dir: Path, professionals: tuple[DemoProfessional, ...] = DEMO_PROFESSIONALS) -> GeneratedPki:
    """Generate the test PKI under `out_dir` (created if needed; files are overwritten)."""
    now = dt.datetime.now(dt.UTC)
    root = _make_ca(ROOT_NAME, None, path_length=1, now=now)
    issuing = _make_ca(ISSUING_NAME, root, path_length=0, now=now)
    _write(out_dir / "trust-anchors.pem", _pem(root.certificate))
    _write(out_dir / "intermediates.pem", _pem(issuing.certificate))
    _write(out_dir / "private" / "root.key.pem", _key_pem(root.key), secret=True)
    _write(out_dir / "private" / "personnes.key.pem", _key_pem(issuing.key), secret=True)

    card_dirs: dict[str, Path] = {}
    revoked_serials: list[int] = []
    manifest = []
    for professional in professionals:
        key = new_rsa_key()
        cert = issue_card_certificate(issuing, professional.national_id, professional.family_name,
                                      professional.given_name, key.public_key())
        card_dir = out_dir / "cards" / professional.national_id
        _write(card_dir / CERT_FILE_NAME, cert.public_bytes(serialization.Encoding.DER))
        _write(card_dir / "cert.pem", _pem(cert))
        _write(card_dir / KEY_FILE_NAME, _key_pem(key), secret=True)
        card_dirs[professional.national_id] = card_dir
        if professional.revoked:
            revoked_serials.append(cert.serial_number)
        manifest.append({"national_id": professional.national_id, "family_name": professional.family_name,
                         "given_name": professional.given_name, "revoked": professional.revoked,
                         "card_dir": str(card_dir)})

    crl_paths = (out_dir / "crl" / "root.crl.pem", out_dir / "crl" / "personnes.crl.pem")
    _write(crl_paths[0], make_crl(root, [], now).public_bytes(serialization.Encoding.PEM))
    _write(crl_paths[1], make_crl(issuing, revoked_serials, now).public_bytes(serialization.Encoding.PEM))
    _write(out_dir / "directory.txt", demo_extract(professionals).encode("utf-8"))
    _write(out_dir / "manifest.json", json.dumps({"cards": manifest}, indent=2).encode())
    return GeneratedPki(out_dir, out_dir / "trust-anchors.pem", out_dir / "intermediates.pem", crl_paths, card_dirs,
                   frozenset(p.national_id for p in professionals if p.revoked))


def demo_extract(professionals: tuple[DemoProfessional, ...]) -> str:
    """A PS_LibreAcces extract with one activity line per demo professional."""
    lines = ["|".join(PS_LIBRE_ACCES_HEADER) + "|"]
    for p in professionals:
        liberal = p.structure.startswith("R")
        lines.append(extract_line({
            "Type d'identifiant PP": "8", "Identifiant PP": p.rpps, "Identification nationale PP": p.national_id,
            "Code civilité": "MME" if p.given_name == "CLAIRE" else "M", "Nom d'exercice": p.family_name,
            "Prénom d'exercice": p.given_name, "Code profession": p.profession,
            "Code catégorie professionnelle": "C", "Code mode exercice": "L" if liberal else "S",
            "Identifiant technique de la structure": p.structure, "Raison sociale site": p.structure_name,
            "Numéro Voie (coord. structure)": "1", "Code type de voie (coord. structure)": "R",
            "Libellé Voie (coord. structure)": "DE LA SANTE", "Code postal (coord. structure)": "75014",
            "Bureau cedex (coord. structure)": "75014 PARIS", "Code commune (coord. structure)": "75114",
            "Code secteur d'activité": "SA07" if liberal else "SA01",
        }))
    return "\n".join(lines) + "\n"


def load_ca(cert_pem: Path, key_pem: Path) -> CertificateAuthority:
    """Reload a CA written by `make_test_pki`, to issue more test certificates."""
    key = serialization.load_pem_private_key(key_pem.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("test CAs use RSA keys")
    return CertificateAuthority(x509.load_pem_x509_certificate(cert_pem.read_bytes()), key)
