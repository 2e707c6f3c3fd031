"""CPS smart-card sign-in for health professionals, and the professional directory behind it.

Server side (the IdP):
    views.extension                                        routes, login method, PSC scopes (only when enabled)
    service.CardSignIn                                     challenge → verification → directory → account; claims
    verify.issue_challenge / verify.verify_card_response   path A: challenge signed by the card via the agent
    verify.certificate_from_proxy_header                   path B: TLS client certificate forwarded by nginx
    pki.ChainValidator (+ crl.CrlStore)                    chain, dates, key usage, revocation
    directory.find_professional / directory.import_directory
    claims.psc_claims                                      Pro Santé Connect-compatible claims
    config.CardSettings                                    MANDAT_CARDS_* settings
    errors                                                 typed errors with stable codes

Workstation side (`card-agent`): agent.py (HTTP on loopback) → cps.py (APDU sequence) → pcsc.py (pyscard).
Tests and demo: emulator.py (virtual card), vpcd.py (plugs it into pcscd), testpki.py (IGC-Santé-like PKI),
demo.py (`demo run`: test PKI, directory, in-process agent). Behind nginx: nginx.conf.template (path B).
"""
