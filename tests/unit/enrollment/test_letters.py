"""letters export: PDFs written, plain codes cleared, dead codes cancelled without printing."""

from __future__ import annotations

import base64
import os
import re
import zlib
from pathlib import Path

from sqlalchemy import select

from idp.db import Database
from idp.enrollment.letters import export_letters
from idp.enrollment.models import OutboxLetter
from tests.unit.enrollment.conftest import add_record
from tests.unit.enrollment.test_service import NUMBER, PASSWORD, Rig, form


async def statuses(db: Database) -> list[tuple[str, str | None]]:
    async with db.session() as session:
        letters = await session.scalars(select(OutboxLetter).order_by(OutboxLetter.id))
        return [(letter.status, letter.code_text) for letter in letters]


def pdf_text(path: Path) -> bytes:
    """The page content streams, decoded (reportlab writes them ASCII85-encoded and deflated)."""
    chunks = []
    for match in re.finditer(rb"stream\r?\n(.*?)endstream", path.read_bytes(), re.DOTALL):
        body = match.group(1).strip()
        if body.endswith(b"~>"):
            body = base64.a85decode(body[:-2])
        try:
            chunks.append(zlib.decompress(body))
        except zlib.error:
            chunks.append(body)
    return b"".join(chunks)


async def test_export_writes_one_pdf_per_letter_and_a_batch_then_clears_the_code(
    db: Database, tmp_path: Path
) -> None:
    await add_record(db)
    rig = Rig(db)
    await rig.service.request_code(form(), "192.0.2.1")
    code = await rig.mailed_code()
    out = tmp_path / "out"
    assert await export_letters(db, out, settings=rig.settings, clock=rig.clock) == 1
    single = out / "letter-1.pdf"
    [batch] = out.glob("letters-*.pdf")
    assert single.read_bytes().startswith(b"%PDF")
    assert code.encode() in pdf_text(single) and code.encode() in pdf_text(batch)
    assert b"Montr" in pdf_text(single)
    assert await statuses(db) == [("sent", None)]
    assert await export_letters(db, out, settings=rig.settings, clock=rig.clock) == 0  # nothing left to send
    # The letter's code still works after export: only the plain copy in the database is gone.
    await rig.service.activate(NUMBER, code, PASSWORD, ip="192.0.2.1")


async def test_superseded_and_used_codes_are_cancelled_not_printed(db: Database, tmp_path: Path) -> None:
    await add_record(db)
    rig = Rig(db)
    await rig.service.request_code(form(), "192.0.2.1")
    await rig.service.request_code(form(), "192.0.2.1")  # supersedes the first
    await rig.service.activate(NUMBER, await rig.mailed_code(), PASSWORD, ip="192.0.2.1")  # uses the second
    assert await export_letters(db, tmp_path, settings=rig.settings, clock=rig.clock) == 0
    assert await statuses(db) == [("cancelled", None), ("cancelled", None)]
    assert not any(name.endswith(".pdf") for name in os.listdir(tmp_path))
