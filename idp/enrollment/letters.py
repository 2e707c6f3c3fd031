"""`letters export`: render pending outbox letters to PDF for the mail house, then mark them sent.

The only module importing reportlab. Each letter is one A4 page, French first then English, with the code in a
large monospaced face. The export writes one PDF per letter (``letter-<id>.pdf``, for reprints) and one batch PDF
with every page (``letters-<timestamp>.pdf``, for the printer). In the same transaction it clears the plain code
from the outbox (see `OutboxLetter`), and cancels, without printing, letters whose code was used, superseded or
expired while waiting: mailing a dead code would only confuse the citizen.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfgen.canvas import Canvas
from sqlalchemy import select

from idp.db import Database, utcnow
from idp.enrollment.config import EnrollmentSettings
from idp.enrollment.interfaces import Clock
from idp.enrollment.models import OutboxLetter, SecurityCode

__all__ = ["LetterContent", "export_letters", "render_letters"]


@dataclass(frozen=True, slots=True)
class LetterContent:
    """What goes on the page: a snapshot taken from the outbox row, safe to hand to a worker thread."""

    letter_id: int
    purpose: str
    recipient_name: str
    address_lines: tuple[str, ...]
    code: str
    expires_at: datetime


_TEXT = {
    "fr": {
        "enrol": "Vous avez demandé à créer votre compte Mandat. Voici votre code de sécurité :",
        "recover": "Vous avez demandé à retrouver l'accès à votre compte Mandat. Voici votre code de sécurité :",
        "how": "Rendez-vous sur {url}, saisissez votre numéro d'assurance maladie, ce code et un nouveau mot de passe.",
        "expires": "Ce code est à usage unique et expire le {date}.",
        "warning": "Si vous n'êtes pas à l'origine de cette demande, ne faites rien : votre compte reste inchangé.",
    },
    "en": {
        "enrol": "You asked to create your Mandat account. Here is your security code:",
        "recover": "You asked to recover access to your Mandat account. Here is your security code:",
        "how": "Go to {url}, enter your health insurance number, this code and a new password.",
        "expires": "This code can be used once and expires on {date}.",
        "warning": "If you did not make this request, do nothing: your account stays as it is.",
    },
}


def _paragraph(canvas: Canvas, text: str, x: float, y: float, width: float, font: str, size: int) -> float:
    """Draw `text` wrapped to `width`; return the baseline below it."""
    canvas.setFont(font, size)
    for line in simpleSplit(text, font, size, width):
        canvas.drawString(x, y, line)
        y -= size * 0.45 * mm
    return float(y - 2 * mm)


def _draw_letter(canvas: Canvas, letter: LetterContent, settings: EnrollmentSettings) -> None:
    width, height = A4
    left = 25 * mm
    text_width = width - 2 * left
    canvas.setTitle("Mandat")
    canvas.setFont("Helvetica-Bold", 12)
    canvas.drawString(left, height - 25 * mm, settings.registry_name)
    # Address block placed for a left-window envelope (DL, window 20 mm from the left, 45–90 mm from the top).
    canvas.setFont("Helvetica", 11)
    y = height - 50 * mm
    for line in (letter.recipient_name, *letter.address_lines):
        canvas.drawString(left, y, line)
        y -= 5 * mm
    y = height - 105 * mm
    for locale in ("fr", "en"):
        text = _TEXT[locale]
        date = letter.expires_at.strftime("%d/%m/%Y" if locale == "fr" else "%Y-%m-%d")
        y = _paragraph(canvas, text[letter.purpose], left, y, text_width, "Helvetica", 11)
        y -= 8 * mm
        canvas.setFont("Courier-Bold", 22)
        canvas.drawString(left + 10 * mm, y, letter.code)
        y -= 12 * mm
        for key in ("how", "expires", "warning"):
            y = _paragraph(canvas, text[key].format(url=settings.activation_url, date=date), left, y, text_width,
                           "Helvetica", 10)
        y -= 10 * mm
    canvas.showPage()


def render_letters(letters: list[LetterContent], out_dir: Path, settings: EnrollmentSettings, stamp: str) -> None:
    """Write one PDF per letter and one batch PDF (blocking: run it in a thread)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    batch = Canvas(str(out_dir / f"letters-{stamp}.pdf"), pagesize=A4)
    for letter in letters:
        single = Canvas(str(out_dir / f"letter-{letter.letter_id}.pdf"), pagesize=A4)
        _draw_letter(single, letter, settings)
        single.save()
        _draw_letter(batch, letter, settings)
    batch.save()


def _content(letter: OutboxLetter) -> LetterContent:
    lines = (letter.address_line1, letter.address_line2, f"{letter.postal_code} {letter.city}", letter.country)
    return LetterContent(
        letter_id=letter.id,
        purpose=letter.purpose,
        recipient_name=letter.recipient_name,
        address_lines=tuple(line for line in lines if line),
        code=letter.code_text or "",
        expires_at=letter.expires_at,
    )


async def export_letters(
    db: Database, out_dir: Path, *, settings: EnrollmentSettings | None = None, clock: Clock = utcnow
) -> int:
    """Render every pending letter whose code is still usable; return how many were sent to `out_dir`."""
    settings = settings or EnrollmentSettings()
    now = clock()
    async with db.transaction() as session:
        # SKIP LOCKED: two exports running at once never print the same letter twice (PostgreSQL; SQLite has
        # a single writer anyway and ignores the clause).
        result = await session.execute(
            select(OutboxLetter, SecurityCode)
            .join(SecurityCode, SecurityCode.id == OutboxLetter.security_code_id)
            .where(OutboxLetter.status == "pending")
            .order_by(OutboxLetter.id)
            .with_for_update(of=OutboxLetter, skip_locked=True)
        )
        to_send: list[OutboxLetter] = []
        for letter, code in result:
            dead = code.consumed_at or code.superseded_at or code.expires_at <= now or not letter.code_text
            if dead:
                letter.status, letter.code_text = "cancelled", None
            else:
                to_send.append(letter)
        if to_send:
            contents = [_content(letter) for letter in to_send]
            await asyncio.to_thread(render_letters, contents, out_dir, settings, now.strftime("%Y%m%dT%H%M%SZ"))
        for letter in to_send:
            letter.status, letter.sent_at, letter.code_text = "sent", now, None
    return len(to_send)
