"""Typed delegation refusals. Each names the rule that refused (`rule`, also its `code`), with a public English
sentence a person can read; pages translate it, an API returns `rule` and the sentence, the audit keeps `detail`.
"""

from __future__ import annotations

from typing import ClassVar

from idp.errors import MandatError

__all__ = [
    "RULES",
    "AccountInactive",
    "ActChainTooDeep",
    "ContextRequired",
    "DelegateKindNotAllowed",
    "DelegationDeclined",
    "DelegationError",
    "DelegationExpired",
    "DelegationNotActive",
    "DelegationNotFound",
    "DelegationNotYetValid",
    "DelegationPending",
    "DelegationRevoked",
    "DurationTooLong",
    "GuardianAgeLimit",
    "GuardianConsentNotApplicable",
    "GuardianNeedsRegistryLink",
    "InvalidPeriod",
    "NoScopeGranted",
    "NotAProfessional",
    "NotTheDelegate",
    "NotThePrincipal",
    "PrincipalNotCitizen",
    "RateLimited",
    "RedelegationForbidden",
    "ScopeMissing",
    "ScopeNotDelegable",
    "ScopeReservedToProfessionals",
    "SelfDelegation",
    "StructureNotTheirs",
    "TeenConsentRequired",
    "TeenConsentWithdrawn",
    "UnknownAccount",
    "UnknownKind",
]


class DelegationError(MandatError):
    """A delegation rule refused. `rule` is stable: branch on it, never on the sentence."""

    rule: ClassVar[str] = "delegation_refused"
    code = "delegation_refused"
    public = "This delegation is not allowed."
    status = 403

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.code = cls.rule

    def __str__(self) -> str:
        return f"{self.public} [{self.rule}]" + (f" ({self.detail})" if self.detail else "")


# --- who and for whom --------------------------------------------------------------------------------------

class SelfDelegation(DelegationError):
    rule = "self_delegation"
    public = "You cannot delegate to yourself."


class UnknownAccount(DelegationError):
    rule = "unknown_account"
    public = "This person has no account."
    status = 404


class AccountInactive(DelegationError):
    rule = "account_inactive"
    public = "One of the accounts of this delegation is locked or disabled."


class UnknownKind(DelegationError):
    rule = "unknown_kind"
    public = "This kind of delegation does not exist (assistant, guardian or proxy)."
    status = 400


class NotAProfessional(DelegationError):
    rule = "not_a_professional"
    public = "Only a health professional listed in the directory can delegate to an assistant."


class StructureNotTheirs(DelegationError):
    rule = "structure_not_theirs"
    public = "A professional can only delegate for a place of practice of their own."


class ContextRequired(DelegationError):
    rule = "context_required"
    public = "An assistant delegation must name the place of practice it is for."
    status = 400


class DelegateKindNotAllowed(DelegationError):
    rule = "delegate_kind_not_allowed"
    public = "This person cannot receive this kind of delegation."


class PrincipalNotCitizen(DelegationError):
    rule = "principal_not_citizen"
    public = "Only a citizen can authorise someone to act for them."


class GuardianNeedsRegistryLink(DelegationError):
    rule = "guardian_needs_registry_link"
    public = "A guardian delegation comes only from the insurer's registry of parents and legal guardians."


class NotThePrincipal(DelegationError):
    rule = "not_the_principal"
    public = "Only the person concerned, or an administrator, can create or revoke this delegation."


class NotTheDelegate(DelegationError):
    rule = "not_the_delegate"
    public = "This delegation was not given to you."


class RedelegationForbidden(DelegationError):
    rule = "redelegation_forbidden"
    public = "You cannot pass on a delegation you hold: only the person concerned can authorise someone else."


class ActChainTooDeep(DelegationError):
    rule = "act_chain_too_deep"
    public = "Too many people are acting for one another in this request."


# --- what ---------------------------------------------------------------------------------------------------

class ScopeNotDelegable(DelegationError):
    rule = "scope_not_delegable"
    public = "This right cannot be delegated."


class ScopeReservedToProfessionals(DelegationError):
    rule = "scope_reserved_to_professionals"
    public = "This right is reserved to health professionals and cannot be given to this person."


class ScopeMissing(DelegationError):
    rule = "scope_missing"
    public = "A delegation must give at least one right."
    status = 400


class NoScopeGranted(DelegationError):
    rule = "no_scope_granted"
    public = "This delegation does not give the rights asked for."


# --- how long -----------------------------------------------------------------------------------------------

class DurationTooLong(DelegationError):
    rule = "duration_too_long"
    public = "This delegation would last longer than allowed."


class InvalidPeriod(DelegationError):
    rule = "invalid_period"
    public = "A delegation must end after it starts."
    status = 400


class GuardianAgeLimit(DelegationError):
    rule = "guardian_age_limit"
    public = "The child has reached the age at which a parent's access ends."


class TeenConsentRequired(DelegationError):
    rule = "teen_consent_required"
    public = "The teenager has reached the age at which a parent's access continues only with their consent."


class TeenConsentWithdrawn(DelegationError):
    rule = "teen_consent_withdrawn"
    public = "The teenager has withdrawn their consent to this access."


class GuardianConsentNotApplicable(DelegationError):
    rule = "consent_not_applicable"
    public = "Consent can only be given by a teenager who has reached the age limit, on a guardian delegation."


# --- state --------------------------------------------------------------------------------------------------

class DelegationNotFound(DelegationError):
    rule = "delegation_not_found"
    public = "This delegation does not exist."
    status = 404


class DelegationPending(DelegationError):
    rule = "delegation_pending"
    public = "This delegation has not been accepted yet."


class DelegationRevoked(DelegationError):
    rule = "delegation_revoked"
    public = "This delegation has been revoked."


class DelegationDeclined(DelegationError):
    rule = "delegation_declined"
    public = "This delegation was declined."


class DelegationExpired(DelegationError):
    rule = "delegation_expired"
    public = "This delegation has expired."


class DelegationNotYetValid(DelegationError):
    rule = "delegation_not_yet_valid"
    public = "This delegation has not started yet."


class DelegationNotActive(DelegationError):
    rule = "delegation_not_active"
    public = "This delegation cannot be changed in its current state."
    status = 409


class RateLimited(DelegationError):
    rule = "rate_limited"
    public = "Too many delegations created today. Please try again tomorrow."
    status = 429


RULES: dict[str, type[DelegationError]] = {
    cls.rule: cls for cls in DelegationError.__subclasses__()
}
