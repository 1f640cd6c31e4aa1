"""A WAP push that arrived by SMS (port 2948) becomes an MMS message waiting to be fetched.

The reception store hands every completed WAP push here, in its own transaction. An MMSC that did
not hear our NotifyResp announces the same transaction again: the (SIM, transaction id) row is found
and its parts join the message already there, so the MMS is stored once.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from appliance.codecs.mms import MmsError, MmsNotification, decode_notification_ind, encode_notifyresp_ind
from appliance.codecs.wsp import PushPdu, decode_push
from appliance.db.models import Message, MmsTransfer

log = logging.getLogger(__name__)

# WDP ports of the WAP push connectionless session service (WAP-259 §6.3): 2948 plain, 2949 secure.
WAP_PUSH_PORTS = frozenset({2948, 2949})
MMS_CONTENT_TYPE = "application/vnd.wap.mms-message"
_TRANSACTION_ID = MmsTransfer.__table__.c.transaction_id
_SENDER = Message.__table__.c.sender
LARGEST_SIZE = 2**31 - 1  # mms_transfers.size is a 32-bit integer column


def accept_push(session: Session, iccid: str, data: bytes, smsc_sender: str | None,
                now: datetime) -> tuple[Message, bool]:
    """The message a WAP push belongs to, and whether it is new: a new MMS waiting to be fetched, the
    MMS a repeated notification announces again (not new: it must not act or be forwarded again), or
    (not an MMS, or broken) a new message that keeps it raw."""
    try:
        push, notification = read_push(data, now)
    except MmsError as exc:
        log.warning("SIM %s: WAP push that does not decode kept raw: %s", iccid, exc)
        return _kept(session, iccid, smsc_sender, now, "undecodable", f"WAP push: {exc}"), True
    if notification is None:
        return _kept(session, iccid, smsc_sender, now, "unmatched",
                     f"WAP push of {push.content_type.media_type} is not an MMS notification"), True
    known = session.scalar(select(MmsTransfer).where(MmsTransfer.iccid == iccid,
                                                     MmsTransfer.transaction_id == notification.transaction_id))
    if known is not None:
        known.notified += 1
        log.info("SIM %s: MMS %s announced again (%d times); stored once", iccid, notification.transaction_id,
                 known.notified)
        message = session.get(Message, known.message_id)
        assert message is not None
        return message, False
    # The SMS came from the operator's push gateway; the customer is the notification's From.
    message = Message(iccid=iccid, received_at=now, kind="mms", status="fetching",
                      sender=notification.sender or smsc_sender, subject=notification.subject)
    session.add(message)
    session.flush()
    session.add(MmsTransfer(iccid=iccid, transaction_id=notification.transaction_id, message_id=message.id,
                            content_location=notification.content_location, mms_version=notification.version,
                            size=notification.size, expiry=notification.expiry, notification_hex=push.body.hex(),
                            next_attempt_at=now, created_at=now))
    log.info("SIM %s: MMS %s from %s announced (%s bytes), to fetch from %s", iccid, notification.transaction_id,
             message.sender, notification.size, notification.content_location)
    return message, True


def read_push(data: bytes, now: datetime) -> tuple[PushPdu, MmsNotification | None]:
    """The push and the MMS notification it carries (None when it carries something else).

    MmsError when either does not decode, when the fetcher could not answer the notification (an
    X-Mms-MMS-Version that is not one), or when it holds a value longer than its column: PostgreSQL
    would refuse the row, failing the reception's whole batch again at every read of the SIM.
    """
    push = decode_push(data)
    if push.content_type.media_type != MMS_CONTENT_TYPE:
        return push, None
    notification = decode_notification_ind(push.body, now=now)
    encode_notifyresp_ind(notification.transaction_id, version=notification.version)
    for name, value, column in [("X-Mms-Transaction-Id", notification.transaction_id, _TRANSACTION_ID),
                                ("From", notification.sender or "", _SENDER)]:
        if len(value) > column.type.length:
            raise MmsError(f"{name} of {len(value)} characters is longer than the {column.type.length} kept")
    if notification.size is not None and notification.size > LARGEST_SIZE:
        raise MmsError(f"X-Mms-Message-Size of {notification.size} octets is past any MMS")
    return push, notification


def _kept(session: Session, iccid: str, sender: str | None, now: datetime, status: str, error: str) -> Message:
    message = Message(iccid=iccid, received_at=now, kind="sms", status=status, sender=sender, error=error)
    session.add(message)
    session.flush()
    return message
