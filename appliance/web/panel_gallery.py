"""The MMS gallery (``/gallery``): every MMS part the principal may see, newest first, as tiles.

An image part is shown only through the JPEG thumbnail the appliance made of it; any other part
(and an image it could not make a thumbnail of) is a file tile with its name, type and size. Every
tile downloads the part (``Content-Disposition: attachment``): nothing a sender made is ever rendered
in the page (issue 4). Each tile links to its message in the inbox.
"""

from __future__ import annotations

from typing import Any

from flask import render_template, request, url_for
from sqlalchemy import select

from appliance.db.models import Attachment, Message
from appliance.representation import iso_utc, msisdns_by_iccid
from appliance.web import db_session
from appliance.web.access import current_principal
from appliance.web.inbox_filter import visible_messages
from appliance.web.panel import bp, utc_text

PAGE_SIZE = 48


@bp.get("/gallery")
def gallery() -> str:
    """``PAGE_SIZE`` parts a page; ``?before_id=`` (an attachment id) shows older ones."""
    before_id = request.args.get("before_id", type=int)
    session = db_session()
    query = (select(Attachment, Message).join(Message, Message.id == Attachment.message_id)
             .where(*visible_messages(current_principal()))
             .order_by(Attachment.id.desc()).limit(PAGE_SIZE + 1))
    if before_id is not None:
        query = query.where(Attachment.id < before_id)
    rows = session.execute(query).all()
    older_id = rows[PAGE_SIZE - 1][0].id if len(rows) > PAGE_SIZE else None
    rows = rows[:PAGE_SIZE]
    numbers = msisdns_by_iccid(session, {message.iccid for _part, message in rows})
    return render_template(
        "panel/gallery.html",
        tiles=[_tile(part, message, numbers.get(message.iccid)) for part, message in rows],
        older_url=url_for("panel.gallery", before_id=older_id) if older_id is not None else None,
        newest_url=url_for("panel.gallery") if before_id is not None else None,
    )


def _tile(part: Attachment, message: Message, number: str | None) -> dict[str, Any]:
    return {
        "id": part.id,
        "name": part.name,
        "content_type": part.content_type,
        "size": part.size,
        "file_label": file_label(part),
        "download_url": url_for("panel.attachment", attachment_id=part.id),
        "thumbnail_src": (url_for("panel.attachment_thumbnail", attachment_id=part.id)
                          if part.thumbnail_sha256 else None),
        "sender": message.sender,
        "access_number": number,
        "received_at": iso_utc(message.received_at),
        "received_at_text": utc_text(message.received_at),
        # The inbox page that starts with this message, scrolled to its row.
        "message_url": url_for("panel.messages", before_id=message.id + 1, _anchor=f"message-{message.id}"),
    }


def file_label(part: Attachment) -> str:
    """A few letters on a file tile: the name's extension ("VCF", "PDF"), else the type's ("PLAIN")."""
    stem, dot, extension = part.name.rpartition(".")
    if dot and stem and 0 < len(extension) <= 4 and extension.isalnum():
        return extension.upper()
    subtype = part.content_type.partition("/")[2].partition(";")[0].strip()
    return (subtype.removeprefix("x-").partition("+")[0][:5] or "file").upper()
