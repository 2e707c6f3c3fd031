"""Self-service delegation pages, for the signed-in person (see views.py for the wiring).

Routes (all under /account, so the sign-in page can send the person back to them):
    GET  /account/delegations                    what I gave and received, invitations, messages, my guardians
    GET  /account/delegations/proxy              a citizen invites a proxy (by username)
    POST /account/delegations/proxy
    GET  /account/delegations/assistant          a professional gives an assistant access for a place of practice
    POST /account/delegations/assistant
    POST /account/delegations/{id}/accept        the invited proxy accepts …
    POST /account/delegations/{id}/decline       … or declines
    GET  /account/delegations/{id}/revoke        the principal stops a delegation (a confirmation page first)
    POST /account/delegations/{id}/revoke
    GET  /account/delegations/{id}/give-up       the delegate stops acting for the principal (confirmation first)
    POST /account/delegations/{id}/give-up
    POST /account/delegations/{id}/consent       a teenager at or above the age limit lets a guardian keep access
    GET  /account/delegations/{id}/withdraw      … or withdraws that agreement (confirmation first)
    POST /account/delegations/{id}/withdraw
    POST /account/delegations/notices/read       mark the messages shown as read
    GET  /account/delegations/history            "who acted for me", newest first (`?before=` pages back)

Every form carries the CSRF token and answers a 303 to the overview when done; a refusal shows the page again
with one plain sentence naming what to do next (page_forms.RULE_TEXTS), with the status of the rule that
refused, and changes nothing. While the session acts for someone (`Session.acting_for`), the actor carries that
principal, so the policy refuses every change (`redelegation_forbidden`) and the page says how to go back.

The account-page section is `SECTION`; the demo outbox lists delegation messages through `demo_outbox`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from idp.accounts.models import Account
from idp.accounts.views import account_login_redirect, signed_in
from idp.delegation import errors, history, lookups, policy
from idp.delegation.config import DelegationSettings
from idp.delegation.interfaces import Actor, DelegationRequest, DelegationView, Party
from idp.delegation.page_forms import (
    ACTING_FOR,
    CANNOT_ACCEPT,
    NO_SUCH_ASSISTANT,
    NO_SUCH_INVITEE,
    NOBODY,
    RULE_TEXTS,
    SCOPE_LABELS,
    UNKNOWN_RULE,
    FormProblem,
    Grant,
    Problem,
    choosable_scopes,
    end_of_day,
    last_day,
    read_grant,
)
from idp.delegation.page_views import PageText, history_entry, notice, sort_delegations
from idp.delegation.service import DelegationService
from idp.domains import AccountSection
from idp.http.oauth_io import NO_STORE
from idp.http.pages import check_csrf, container_of, form_expired, locale_of, render
from idp.oidc.sessions import Acting, Session

__all__ = ["BASE", "CANCEL", "CONFIRMS", "DONE", "HISTORY", "SECTION", "demo_outbox", "problem_of", "routes"]

BASE = "/account/delegations"
PROXY, ASSISTANT, HISTORY, NOTICES_READ = (f"{BASE}/proxy", f"{BASE}/assistant", f"{BASE}/history",
                                           f"{BASE}/notices/read")
REVOKE_REASON = "self-service"
_ID = re.compile(r"^[0-9a-f]{32}$")
_LIVE = ("pending", "active")

# What the overview says after each change (?done=…).
DONE = {
    "invited": "Your invitation was sent. The person will see it when they sign in to Mandat, and must accept it "
               "before they can act for you.",
    "granted": "Access given. Your assistant can use it from now on.",
    "accepted": "You accepted. To act for this person, sign in to a health service and choose their name.",
    "declined": "You declined the invitation.",
    "revoked": "Done: this person can no longer act for you.",
    "cancelled": "Done: the invitation was cancelled.",
    "given_up": "Done: you no longer act for this person.",
    "consented": "Done: your parent or guardian can still act for you, because you agreed. You can withdraw your "
                 "agreement at any time.",
    "withdrawn": "Done: your parent or guardian can no longer act for you.",
    "read": "The messages are marked as read.",
}


def routes() -> list[BaseRoute]:
    found: list[BaseRoute] = [
        Route(BASE, overview_page, methods=["GET"]),
        Route(PROXY, proxy_page, methods=["GET"]),
        Route(PROXY, proxy_submit, methods=["POST"]),
        Route(ASSISTANT, assistant_page, methods=["GET"]),
        Route(ASSISTANT, assistant_submit, methods=["POST"]),
        Route(HISTORY, history_page, methods=["GET"]),
        Route(NOTICES_READ, notices_read, methods=["POST"]),
        Route(BASE + "/{delegation}/accept", accept, methods=["POST"]),
        Route(BASE + "/{delegation}/decline", decline, methods=["POST"]),
        Route(BASE + "/{delegation}/consent", consent, methods=["POST"]),
    ]
    for action in CONFIRMS:
        found.append(Route(f"{BASE}/{{delegation}}/{action}", _confirm_page(action), methods=["GET"]))
        found.append(Route(f"{BASE}/{{delegation}}/{action}", _confirm_submit(action), methods=["POST"]))
    return found


# --- who is asking ------------------------------------------------------------------------------------------------

def _service(request: Request) -> DelegationService:
    return container_of(request).service(DelegationService)


def _text(request: Request) -> PageText:
    return PageText(locale_of(request), _service(request).settings)


def _actor(session: Session, account: Account) -> Actor:
    """The signed-in person; while they act for someone, the policy sees it and refuses every change."""
    acting = session.acting_for
    return Actor.person(account.id, acting_for=acting.principal_id if acting is not None else None)


async def _signed(request: Request, next_page: str) -> tuple[Session, Account] | Response:
    signed = await signed_in(request)
    if signed is None:
        return account_login_redirect(next_page)
    return signed


async def _signed_form(request: Request, next_page: str = BASE) -> tuple[Session, Account, FormData] | Response:
    """The preamble of every form: CSRF first (nothing is read or changed without it), then a live session."""
    form = await request.form()
    if not await check_csrf(request, form):
        return form_expired(request, locale_of(request))
    signed = await _signed(request, next_page)
    if isinstance(signed, Response):
        return signed
    return signed[0], signed[1], form


def _done(what: str) -> Response:
    return RedirectResponse(f"{BASE}?done={what}", status_code=303, headers=NO_STORE)


# --- refusals as sentences ------------------------------------------------------------------------------------------

def problem_of(error: errors.DelegationError, *, settings: DelegationSettings, now: datetime,
               acting: Acting | None = None, invite: str | None = None, kind: str | None = None) -> Problem:
    """The sentence a page shows for a refusal. `invite` ("proxy" | "assistant") on the invitation forms, where
    every "this username cannot receive it" answers as one (page_forms: no account enumeration)."""
    rule = error.rule
    if rule == errors.RedelegationForbidden.rule and acting is not None:
        return Problem(rule, ACTING_FOR, None, error.status, {"name": acting.principal_name})
    if invite is not None and rule in CANNOT_ACCEPT:
        return Problem("cannot_accept", NO_SUCH_INVITEE if invite == "proxy" else NO_SUCH_ASSISTANT, "username", 400)
    if rule not in RULE_TEXTS:
        return Problem(rule, UNKNOWN_RULE, None, error.status, {"rule": rule})
    message, field = RULE_TEXTS[rule]
    values: dict[str, Any] = {}
    if rule == errors.DurationTooLong.rule:
        day = last_day(kind or "proxy", now, settings)
        values["last_day"] = day.isoformat() if day else ""
    elif rule == errors.GuardianConsentNotApplicable.rule:
        values = {"age_limit": settings.age_limit, "last_age": settings.guardian_consent_until_age - 1}
    return Problem(rule, message, field, error.status, values)


def _problem_text(text: PageText, problem: Problem | None) -> dict[str, Any] | None:
    if problem is None:
        return None
    values = dict(problem.values)
    if values.get("last_day"):
        values["last_day"] = text.day(date.fromisoformat(values["last_day"]))
    return {"rule": problem.rule, "text": text(problem.message, **values), "field": problem.field}


# --- the overview ---------------------------------------------------------------------------------------------------

async def overview_page(request: Request) -> Response:
    signed = await _signed(request, BASE)
    if isinstance(signed, Response):
        return signed
    return await _overview(request, *signed)


async def _overview(request: Request, session: Session, account: Account, *,
                    problem: Problem | None = None) -> Response:
    container = container_of(request)
    service = _service(request)
    text = _text(request)
    now = service.clock()
    given = await service.given(account.id)
    received = await service.received(account.id)
    notes = await service.notifications(account.id, limit=20)
    views = {view.id: view for view in given + received}
    for note in notes:
        if note.delegation_id not in views:
            try:
                views[note.delegation_id] = await service.get(note.delegation_id)
            except errors.DelegationNotFound:
                pass
    ids = {i for view in views.values() for i in (view.principal_id, view.delegate_id, view.created_by,
                                                   view.revoked_by) if i}
    people = await lookups.people(container.db, ids)
    structures = await lookups.structure_labels(container.db, (view.context for view in given + received))
    me = Party(account.id, account.kind, account.status, account.birthdate)
    sorted_ = sort_delegations(text, me, given, received, people, structures, now)
    notices = [notice(text, note, views.get(note.delegation_id), people) for note in notes]
    done = DONE.get(request.query_params.get("done", ""))
    return render(request, "delegation/delegations.html", {
        "account": account, "sorted": sorted_, "notices": notices,
        "unread_ids": [n["id"] for n in notices if n["unread"]],
        "done": text(done) if done else None, "problem": _problem_text(text, problem),
        "acting_for": session.acting_for, "can_invite": account.kind == "citizen",
        "can_grant": account.kind == "professional", "age_limit": text.settings.age_limit,
        "consent_rule": text.settings.consent_rule,
    }, status=problem.status if problem else 200, locale=text.locale)


# --- invitations and grants -----------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _GrantPage:
    kind: str  # "proxy" | "assistant"
    template: str
    done: str


_PROXY = _GrantPage("proxy", "delegation/proxy_form.html", "invited")
_ASSISTANT = _GrantPage("assistant", "delegation/assistant_form.html", "granted")


async def _grant_form(request: Request, page: _GrantPage, session: Session, account: Account, *,
                      grant: Grant | None = None, problem: Problem | None = None) -> Response:
    container = container_of(request)
    service = _service(request)
    text = _text(request)
    settings = text.settings
    now = service.clock()
    structures = (await lookups.structures_of(container.db, account.national_id)
                  if page.kind == "assistant" and account.kind == "professional" else [])
    allowed = account.kind == "citizen" if page.kind == "proxy" else bool(structures)
    if not allowed and problem is None:
        refusal: errors.DelegationError = (errors.PrincipalNotCitizen(account.id) if page.kind == "proxy"
                                           else errors.NotAProfessional(account.id))
        problem = problem_of(refusal, settings=settings, now=now)
    last = last_day(page.kind, now, settings)
    today = policy.local_date(now, text.zone)
    chosen = set(grant.scopes) if grant else set()
    values = {
        "username": grant.username if grant else "",
        "until": grant.until.isoformat() if grant and grant.until else (
            grant.until_text if grant and grant.until_text else (last.isoformat() if last else "")),
        "structure": grant.context if grant else (structures[0].id if len(structures) == 1 else None),
    }
    return render(request, page.template, {
        "show_form": allowed, "problem": _problem_text(text, problem), "acting_for": session.acting_for,
        "values": values, "structures": structures,
        "scopes": [{"value": s, "label": text(SCOPE_LABELS[s]) if s in SCOPE_LABELS else s, "checked": s in chosen}
                   for s in choosable_scopes(settings)],
        "today_iso": today.isoformat(), "last_iso": last.isoformat() if last else "",
        "last_text": text.day(last) if last else "",
    }, status=problem.status if problem else 200, locale=text.locale)


async def proxy_page(request: Request) -> Response:
    signed = await _signed(request, PROXY)
    if isinstance(signed, Response):
        return signed
    return await _grant_form(request, _PROXY, *signed)


async def assistant_page(request: Request) -> Response:
    signed = await _signed(request, ASSISTANT)
    if isinstance(signed, Response):
        return signed
    return await _grant_form(request, _ASSISTANT, *signed)


async def proxy_submit(request: Request) -> Response:
    return await _grant_submit(request, _PROXY)


async def assistant_submit(request: Request) -> Response:
    return await _grant_submit(request, _ASSISTANT)


async def _grant_submit(request: Request, page: _GrantPage) -> Response:
    """Create the delegation, or show the form again with the refusal. The order matters for enumeration (see
    page_forms): what depends only on the person inviting and on what they typed is refused first; then the
    username, known or not, goes through the service, which counts the try and refuses or creates."""
    checked = await _signed_form(request, PROXY if page.kind == "proxy" else ASSISTANT)
    if isinstance(checked, Response):
        return checked
    session, account, form = checked
    container = container_of(request)
    service = _service(request)
    settings = service.settings
    now = service.clock()
    actor = _actor(session, account)
    try:
        grant = read_grant(form, settings, assistant=page.kind == "assistant")
    except FormProblem as refused:
        return await _grant_form(request, page, session, account, grant=_as_typed(form), problem=refused.problem)
    try:
        policy.check_actor(actor, account.id, holds_delegation=False)
        if page.kind == "proxy":
            if account.kind != "citizen":
                raise errors.PrincipalNotCitizen(f"{account.id} is a {account.kind}")
        else:
            structures = (await lookups.structures_of(container.db, account.national_id)
                          if account.kind == "professional" else [])
            if not structures:
                raise errors.NotAProfessional(f"{account.id}: no place of practice in the directory")
            if not grant.context:
                raise errors.ContextRequired()
            if grant.context not in {structure.id for structure in structures}:
                raise errors.StructureNotTheirs(grant.context)
        try:
            delegate_id = await service.account_id(grant.username)
        except errors.UnknownAccount:
            delegate_id = NOBODY
        await service.create(DelegationRequest(
            kind=page.kind, principal_id=account.id, delegate_id=delegate_id, scopes=grant.scopes,
            context=grant.context, valid_until=end_of_day(grant.until, settings) if grant.until else None,
            reason=f"self-service {page.kind}"), actor)
    except errors.DelegationError as refusal:
        problem = problem_of(refusal, settings=settings, now=now, acting=session.acting_for, invite=page.kind,
                             kind=page.kind)
        return await _grant_form(request, page, session, account, grant=grant, problem=problem)
    return _done(page.done)


def _as_typed(form: FormData) -> Grant:
    """A form that did not parse, to show it again as typed."""
    return Grant(username=str(form.get("username") or "")[:200],
                 scopes=tuple(str(s)[:100] for s in form.getlist("scope")[:20]), until=None,
                 until_text=str(form.get("until") or "")[:40],
                 context=str(form.get("structure") or "")[:300] or None)


# --- answering, stopping, consenting --------------------------------------------------------------------------------

def _delegation_id(request: Request) -> str:
    value = str(request.path_params["delegation"])
    if not _ID.match(value):
        raise errors.DelegationNotFound(value[:64])
    return value


def _was_invitation(view: DelegationView) -> bool:
    """A proxy its delegate never accepted: ending it cancels an invitation rather than revoking an access."""
    return view.kind == "proxy" and view.source == "self" and view.responded_at is None


async def _change(request: Request, what: str, done: str) -> Response:
    checked = await _signed_form(request)
    if isinstance(checked, Response):
        return checked
    session, account, _form = checked
    service = _service(request)
    actor = _actor(session, account)
    try:
        delegation_id = _delegation_id(request)
        if what == "accept":
            await service.accept(delegation_id, actor)
        elif what == "decline":
            await service.decline(delegation_id, actor)
        elif what == "consent":
            await service.consent(delegation_id, actor)
        elif what == "revoke":
            if _was_invitation(await service.revoke(delegation_id, actor, REVOKE_REASON)):
                done = "cancelled"
        elif what == "give_up":
            await service.give_up(delegation_id, actor)
        else:  # withdraw
            await service.withdraw_consent(delegation_id, actor)
    except errors.DelegationError as refusal:
        problem = problem_of(refusal, settings=service.settings, now=service.clock(), acting=session.acting_for)
        return await _overview(request, session, account, problem=problem)
    return _done(done)


async def accept(request: Request) -> Response:
    return await _change(request, "accept", "accepted")


async def decline(request: Request) -> Response:
    return await _change(request, "decline", "declined")


async def consent(request: Request) -> Response:
    return await _change(request, "consent", "consented")


@dataclass(frozen=True, slots=True)
class _Confirm:
    what: str  # the service call
    side: str  # "principal" | "delegate": whose delegation this page is for
    title: str
    question: str
    button: str
    done: str


CONFIRMS: dict[str, _Confirm] = {
    "revoke": _Confirm("revoke", "principal", "Stop {name}'s access?",
                       "{name} will no longer be able to act for you. You can authorise them again later.",
                       "Yes, stop this access", "revoked"),
    "give-up": _Confirm("give_up", "delegate", "Stop acting for {name}?",
                        "You will no longer be able to act for {name}. Only they can authorise you again.",
                        "Yes, stop acting for them", "given_up"),
    "withdraw": _Confirm("withdraw", "principal", "Withdraw your agreement?",
                         "{name} will no longer be able to act for you. You can agree again later on this page.",
                         "Yes, withdraw my agreement", "withdrawn"),
}
CANCEL = _Confirm("revoke", "principal", "Cancel the invitation to {name}?", "{name} will not be able to accept it.",
                   "Yes, cancel the invitation", "cancelled")


def _mine(view: DelegationView, account: Account, confirm: _Confirm) -> bool:
    """Whether this confirmation page concerns a delegation of the signed-in person, on the right side."""
    if confirm.side == "delegate":
        return view.delegate_id == account.id
    guardian = view.kind == "guardian"
    return view.principal_id == account.id and (guardian if confirm.what == "withdraw" else not guardian)


def _confirm_page(action: str) -> Any:
    async def page(request: Request) -> Response:
        confirm = CONFIRMS[action]
        signed = await _signed(request, BASE)
        if isinstance(signed, Response):
            return signed
        session, account = signed
        service = _service(request)
        text = _text(request)
        try:
            view = await service.get(_delegation_id(request))
            if not _mine(view, account, confirm):  # someone else's: as if it did not exist
                raise errors.DelegationNotFound(view.id)
            if view.status not in _LIVE and confirm.what != "withdraw":
                raise errors.DelegationNotActive(f"{view.id} is {view.status}")
        except errors.DelegationError as refusal:
            problem = problem_of(refusal, settings=service.settings, now=service.clock(), acting=session.acting_for)
            return await _overview(request, session, account, problem=problem)
        if confirm.what == "revoke" and _was_invitation(view):
            confirm = CANCEL
        container = container_of(request)
        other_id = view.delegate_id if confirm.side == "principal" else view.principal_id
        people = await lookups.people(container.db, [other_id])
        structures = await lookups.structure_labels(container.db, [view.context])
        me = Party(account.id, account.kind, account.status, account.birthdate)
        given, received = ([view], []) if confirm.side == "principal" else ([], [view])
        sorted_ = sort_delegations(text, me, given, received, people, structures, service.clock())
        item = next(iter(sorted_.given + sorted_.guardians + sorted_.received + sorted_.invitations + sorted_.ended))
        name = item["other"]
        return render(request, "delegation/confirm.html", {
            "title": text(confirm.title, name=name), "question": text(confirm.question, name=name),
            "button": text(confirm.button), "item": item, "action": f"{BASE}/{view.id}/{action}",
            "acting_for": session.acting_for,
        }, locale=text.locale)

    return page


def _confirm_submit(action: str) -> Any:
    async def submit(request: Request) -> Response:
        confirm = CONFIRMS[action]
        return await _change(request, confirm.what, confirm.done)

    return submit


# --- messages -------------------------------------------------------------------------------------------------------

async def notices_read(request: Request) -> Response:
    checked = await _signed_form(request)
    if isinstance(checked, Response):
        return checked
    _session, account, form = checked
    raw = [str(value) for value in form.getlist("notice")[:100]]
    ids = [int(value) for value in raw if value.isdigit() and len(value) < 19]
    if ids:
        await _service(request).mark_read(account.id, ids)
    return _done("read")


# --- who acted for me -----------------------------------------------------------------------------------------------

async def history_page(request: Request) -> Response:
    signed = await _signed(request, HISTORY)
    if isinstance(signed, Response):
        return signed
    session, account = signed
    container = container_of(request)
    text = _text(request)
    raw = request.query_params.get("before", "")
    before = int(raw) if raw.isdigit() and len(raw) < 19 else None
    page = await history.acted_for(container.db, account.id, before=before)
    people = await lookups.people(container.db, (entry.actor_id or "" for entry in page.entries))
    clients: dict[str, str] = {}
    for client_id in {entry.client_id for entry in page.entries if entry.client_id}:
        client = await container.clients.get(client_id)
        clients[client_id] = client.name if client is not None and client.name else client_id
    return render(request, "delegation/history.html", {
        "entries": [history_entry(text, entry, people, clients) for entry in page.entries],
        "older": page.older, "first_page": before is None, "acting_for": session.acting_for,
    }, locale=text.locale)


# --- the /account section and the demo outbox -----------------------------------------------------------------------

async def section(request: Request, account: Account) -> Mapping[str, Any]:
    """The delegation part of /account: how many, what waits for an answer, and the links."""
    service = _service(request)
    now = service.clock()

    def live(view: DelegationView) -> bool:
        return view.status in _LIVE and view.valid_until > now

    given = [view for view in await service.given(account.id) if live(view)]
    received = [view for view in await service.received(account.id) if live(view)]
    unread = await service.notifications(account.id, unread_only=True)
    return {
        "gave": len([view for view in given if view.kind != "guardian" and view.status == "active"]),
        "guardians": len([view for view in given if view.kind == "guardian"]),
        "holds": len([view for view in received if view.status == "active"]),
        "invitations": len([view for view in received if view.status == "pending"]),
        "unread": len(unread),
    }


SECTION = AccountSection("delegation/account_section.html", section, order=30)


async def demo_outbox(request: Request) -> list[dict[str, Any]] | None:
    """The latest delegation messages to everyone, for the demo outbox page (None: the domain is off)."""
    container = container_of(request)
    if not container.has_service(DelegationService):
        return None
    text = _text(request)
    notes = await lookups.latest_notifications(container.db, limit=50)
    views = await lookups.delegations(container.db, {note.delegation_id for note in notes})
    ids = {note.account_id for note in notes} | {
        i for view in views.values() for i in (view.principal_id, view.delegate_id, view.created_by,
                                                view.revoked_by) if i}
    people = await lookups.people(container.db, ids)
    out = []
    for note in notes:
        shown = notice(text, note, views.get(note.delegation_id), people)
        recipient = people.get(note.account_id)
        out.append({**shown, "recipient": recipient.name if recipient else note.account_id,
                    "username": recipient.username if recipient else ""})
    return out
