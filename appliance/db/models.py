"""The stored state of the appliance: received parts, messages, modems, API tokens.

Every schema change goes through an Alembic migration in ``appliance/db/migrations``; a test checks
that the migrations and these models agree.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, orm_insert_sentinel, relationship

from appliance.db.sealed import LockedSecret, SealedText


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on both SQLite (which stores naive text) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Who sent a message, wherever it is kept: a phone number, an alphanumeric name, or (an MMS: OMA MMS
# encapsulation allows any address in From) an e-mail address, which RFC 5321 allows up to 254 characters.
SENDER_LENGTH = 254

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Modem(Base):
    """The last known state of a SIM's modem, keyed by ICCID so a replug or a new port keeps its row."""

    __tablename__ = "modems"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    iccid: Mapped[str] = mapped_column(String(32), unique=True)
    imsi: Mapped[str | None] = mapped_column(String(32))
    imei: Mapped[str | None] = mapped_column(String(32))
    msisdn: Mapped[str | None] = mapped_column(String(32))
    manufacturer: Mapped[str | None] = mapped_column(String(120))
    model: Mapped[str | None] = mapped_column(String(120))
    revision: Mapped[str | None] = mapped_column(String(200))
    operator: Mapped[str | None] = mapped_column(String(120))
    port: Mapped[str | None] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(32), default="unknown")
    state_detail: Mapped[str | None] = mapped_column(Text)
    signal_dbm: Mapped[int | None] = mapped_column(Integer)
    registration: Mapped[str | None] = mapped_column(String(16))
    storage_used: Mapped[int | None] = mapped_column(Integer)
    storage_total: Mapped[int | None] = mapped_column(Integer)
    last_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class Message(Base):
    """One message as the customer sent it: a single SMS, an assembled multipart set, or an MMS."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The four columns the statistics summary is kept by (appliance.statistics_summary): their value
    # before a change is always loaded, so a change can be taken off the summary where it was counted.
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True, active_history=True)
    iccid: Mapped[str] = mapped_column(String(32), index=True, active_history=True)
    sender: Mapped[str | None] = mapped_column(String(SENDER_LENGTH), index=True, active_history=True)
    text: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(8), default="sms")
    subject: Mapped[str | None] = mapped_column(Text)
    smsc_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Minutes east of UTC the SMSC stamped, kept so the sender's local time can be shown.
    smsc_tz_minutes: Mapped[int | None] = mapped_column(Integer)
    alphabet: Mapped[str | None] = mapped_column(String(8))
    message_class: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), index=True)
    error: Mapped[str | None] = mapped_column(Text)
    parts_total: Mapped[int] = mapped_column(Integer, default=1)
    parts_received: Mapped[int] = mapped_column(Integer, default=1)
    # Concatenation set this message was assembled from, so a part arriving after a partial release
    # joins the same message instead of starting a new one.
    concat_key: Mapped[str | None] = mapped_column(String(200), index=True)
    # Routing: the account the message belongs to, the keyword it matched (its text as configured),
    # the rest of the message after a base keyword, and why it was routed so (appliance.rules Reason).
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    keyword_id: Mapped[int | None] = mapped_column(ForeignKey("keywords.id"), index=True, active_history=True)
    keyword: Mapped[str | None] = mapped_column(String(160))
    payload: Mapped[str | None] = mapped_column(Text)
    route_reason: Mapped[str | None] = mapped_column(String(16))
    # Lets one multi-row INSERT … RETURNING hand back ids in row order on SQLite too (reception stores
    # whole batches at once; without it SQLAlchemy falls back to one statement per row).
    _sentinel: Mapped[int | None] = orm_insert_sentinel()

    parts: Mapped[list[SmsPart]] = relationship(back_populates="message", order_by="SmsPart.sequence")
    attachments: Mapped[list[Attachment]] = relationship(order_by="Attachment.sequence")

    __table_args__ = (
        # Statistics (appliance.statistics): a keyword's or a SIM's messages of a day, counted and
        # their senders told apart from the index alone.
        Index("ix_messages_keyword_received", "keyword_id", "received_at", "sender"),
        Index("ix_messages_iccid_received", "iccid", "received_at", "sender"),
        # A conversation (appliance.campaigns.dialogue): one sender's messages to one SIM, in time order.
        Index("ix_messages_conversation", "iccid", "sender", "received_at"),
    )


# The summary's rows are small and found by their key: on SQLite the key is the table (WITHOUT ROWID),
# not a rowid table plus an index repeating the key, which would take twice the space (two rows per
# message in statistics_sender_days alone).
_SUMMARY_TABLE = {"sqlite_with_rowid": False}


class StatisticsDay(Base):
    """A scope's messages, opt-ins and opt-outs of one local day (appliance.statistics_summary).

    A scope is ``keyword:<id>`` (messages routed to the keyword) or ``sim:<ICCID>`` (messages the SIM
    received: an access number's traffic). Days are calendar days of the summary's time zone.
    """

    __tablename__ = "statistics_days"
    __table_args__ = _SUMMARY_TABLE

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    messages: Mapped[int] = mapped_column(Integer, default=0)
    opt_ins: Mapped[int] = mapped_column(Integer, default=0)
    opt_outs: Mapped[int] = mapped_column(Integer, default=0)


class StatisticsSenderDay(Base):
    """How many of a scope's messages one sender sent on one local day: the summary's memory of who
    wrote when, read only to keep ``statistics_day_senders`` right as messages come and go."""

    __tablename__ = "statistics_sender_days"
    __table_args__ = _SUMMARY_TABLE

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    sender: Mapped[str] = mapped_column(String(SENDER_LENGTH), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    messages: Mapped[int] = mapped_column(Integer, default=0)


class StatisticsDaySenders(Base):
    """The senders of a scope's day, by the day each of them last wrote before (``previous_day``).

    A day's unique senders are the sum over its rows; the unique senders of a range starting on
    ``first`` are the senders of its days whose previous day lies before ``first``. A previous day
    longer ago than any range reaches is stored as ``day`` minus ``LOOKBACK_DAYS + 1``, so a day has a
    bounded number of rows however old its senders are.
    """

    __tablename__ = "statistics_day_senders"
    __table_args__ = _SUMMARY_TABLE

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    previous_day: Mapped[date] = mapped_column(Date, primary_key=True)
    senders: Mapped[int] = mapped_column(Integer, default=0)


class StatisticsPollDay(Base):
    """Votes for one option of a poll cast by a scope's messages of one local day."""

    __tablename__ = "statistics_poll_days"
    __table_args__ = _SUMMARY_TABLE

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    poll_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    option_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    votes: Mapped[int] = mapped_column(Integer, default=0)


class StatisticsContestDay(Base):
    """Entries (and correct ones) in one contest made by a scope's messages of one local day. The
    numbers that entered are kept as the senders of the scope ``<scope>/contest:<id>``."""

    __tablename__ = "statistics_contest_days"
    __table_args__ = _SUMMARY_TABLE

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    contest_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entries: Mapped[int] = mapped_column(Integer, default=0)
    correct: Mapped[int] = mapped_column(Integer, default=0)


class SmsPart(Base):
    """A PDU exactly as it came off the SIM, committed before the modem is told to delete it."""

    __tablename__ = "sms_parts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # ICCID + the whole TPDU (sender, SCTS, UDH, body): a re-read after a crash hashes the same.
    dedupe_key: Mapped[str] = mapped_column(String(64), unique=True)
    iccid: Mapped[str] = mapped_column(String(32))
    pdu_hex: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    storage: Mapped[str | None] = mapped_column(String(8))
    storage_index: Mapped[int | None] = mapped_column(Integer)
    sender: Mapped[str | None] = mapped_column(String(64))
    concat_key: Mapped[str | None] = mapped_column(String(200))
    sequence: Mapped[int] = mapped_column(Integer, default=1)
    total: Mapped[int] = mapped_column(Integer, default=1)
    text: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), index=True)
    _sentinel: Mapped[int | None] = orm_insert_sentinel()

    message: Mapped[Message | None] = relationship(back_populates="parts")

    __table_args__ = (
        # Open sets are found by key among parts not yet given to a message.
        Index("ix_sms_parts_open_sets", "concat_key", "message_id"),
    )


class StatusReport(Base):
    """An SMS-STATUS-REPORT, kept raw; matched to outbound messages by the outbound queue."""

    __tablename__ = "status_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(64), unique=True)
    iccid: Mapped[str] = mapped_column(String(32))
    pdu_hex: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    message_reference: Mapped[int | None] = mapped_column(Integer)
    recipient: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[int | None] = mapped_column(Integer)
    outbound_part_id: Mapped[int | None] = mapped_column(ForeignKey("outbound_parts.id"))


class ApiToken(Base):
    """A REST API bearer token; only its SHA-256 is stored, the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # A token made by an account's user sees and changes only that account, as the user does in the panel.
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class User(Base):
    """A person who signs in to the panel: an admin (every account) or a user of one account."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Stored as typed, compared lower-cased: e-mail local parts are case-sensitive only in theory.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    language: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class LoginFailure(Base):
    """One refused sign-in, kept for the rate limit; in the database so that every worker process counts it."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_email_at", "email", "at"),
                      Index("ix_login_failures_address_at", "address", "at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)



class AuditEntry(Base):
    """Who did what to the box's configuration or personal data, when and from where.

    Written in the same transaction as the change it records (:func:`appliance.audit.record`), so a
    change that rolled back leaves no entry and a committed one always has its entry. The application
    only ever inserts rows here. Phone numbers are never written in clear: erasing a number must leave
    no row mentioning it, and the log itself must stay unchanged.
    """

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"), Index("ix_audit_log_action", "action"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # "user ala@example.com", "token 'crm'", "system" (a scheduled job), "console" (the command line).
    actor: Mapped[str] = mapped_column(String(300))
    address: Mapped[str | None] = mapped_column(String(64))
    # Dotted names: "login", "login.failed", "keyword.create", "token.revoke", "number.erase" …
    action: Mapped[str] = mapped_column(String(64))
    # What it was done to: "keyword 12 (PIZZA)", "account 3" …
    target: Mapped[str | None] = mapped_column(String(300))
    # What changed: {"field": [old, new]} for a change, the created values for a creation.
    details: Mapped[dict[str, object] | None] = mapped_column(JSON)


class PanelSetting(Base):
    """A setting changed in the panel, over the settings file's value of the same key (``smtp_host`` …).

    Values are JSON so a port stays a number; which keys the panel may set is
    :data:`appliance.panel_settings.PANEL_KEYS`.
    """

    __tablename__ = "panel_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[object] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class Account(Base):
    """A business using the box; owns dedicated numbers, keywords, contacts."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # Words besides STOP that opt a sender out of this account ("WYPISZ", "NIE"), as typed; compared
    # as keywords are (appliance.rules.is_opt_out).
    opt_out_words: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    # Messages and texts older than this many days are purged (appliance.retention); None: kept forever.
    retention_days: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class AccessNumber(Base):
    """A phone number customers text, bound to the SIM (ICCID) that receives it, whatever port it is on."""

    __tablename__ = "access_numbers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    iccid: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="dedicated")  # shared (ND) | dedicated (NDI)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    mms_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Where this SIM's MMS are fetched: the operator's MMSC URL and its WAP/HTTP proxy (host:port),
    # over the APN (with user/password) the data bearer is brought up with.
    mmsc_url: Mapped[str | None] = mapped_column(String(500))
    mms_proxy: Mapped[str | None] = mapped_column(String(200))
    mms_apn: Mapped[str | None] = mapped_column(String(100))
    mms_apn_user: Mapped[str | None] = mapped_column(String(100))
    # Sealed (appliance.db.sealed): a copy of the database alone does not give it away.
    mms_apn_password: Mapped[str | LockedSecret | None] = mapped_column(SealedText("access_numbers.mms_apn_password"))
    # Sent back through this SIM to a message that matched no keyword (appliance.campaigns.engine).
    unmatched_reply: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class OutboundSms(Base):
    """A text the appliance sends (API, replies, autoresponders, forwarding), queued per SIM."""

    __tablename__ = "outbound_sms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    iccid: Mapped[str] = mapped_column(String(32), index=True)
    recipient: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    # queued → sending → sent → delivered; failed (gave up or the network refused for good);
    # cancelled (withdrawn before its first attempt: appliance.modem.outbound.withdraw)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The account the text speaks for (an account's reply, automatic answer, group send, forward);
    # None: the box's own voice (a shared number's default reply, an admin's text). On a shared
    # number an account's users see only their own account's texts (appliance.campaigns.dialogue).
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))

    parts: Mapped[list[OutboundPart]] = relationship(back_populates="outbound", order_by="OutboundPart.sequence",
                                                     cascade="all, delete-orphan")

    # A conversation (appliance.campaigns.dialogue): the texts of one SIM to one number, in time order.
    __table_args__ = (Index("ix_outbound_sms_conversation", "iccid", "recipient", "created_at"),)


class OutboundPart(Base):
    """One SMS-SUBMIT of an outbound text, with the reference the network gave it for its report."""

    __tablename__ = "outbound_parts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    outbound_id: Mapped[int] = mapped_column(ForeignKey("outbound_sms.id"), index=True)
    sequence: Mapped[int] = mapped_column(Integer)
    pdu_hex: Mapped[str] = mapped_column(Text)
    message_reference: Mapped[int | None] = mapped_column(Integer)
    # pending → sent → delivered | failed (TS 23.040 §9.2.3.15 status of its report)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    report_status: Mapped[int | None] = mapped_column(Integer)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reported_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    outbound: Mapped[OutboundSms] = relationship(back_populates="parts")

    __table_args__ = (Index("ix_outbound_parts_reference", "message_reference", "status"),)


class MmsTransfer(Base):
    """An MMS announced by a WAP push notification, fetched from the MMSC by the appliance.

    One row per (SIM, transaction id): an MMSC that repeats the notification (no NotifyResp reached
    it) finds the row and nothing is stored twice.
    """

    __tablename__ = "mms_transfers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    iccid: Mapped[str] = mapped_column(String(32))
    transaction_id: Mapped[str] = mapped_column(String(200))
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    content_location: Mapped[str] = mapped_column(Text)
    mms_version: Mapped[str | None] = mapped_column(String(8))
    size: Mapped[int | None] = mapped_column(Integer)
    expiry: Mapped[datetime | None] = mapped_column(UtcDateTime)
    notification_hex: Mapped[str] = mapped_column(Text)
    # pending → retrieved | expired | failed (the MMSC said no for good) | undecodable (bytes kept)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    notified: Mapped[int] = mapped_column(Integer, default=1)  # how often the MMSC announced it
    raw_sha256: Mapped[str | None] = mapped_column(String(64))  # the fetched bytes, kept as a file
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (UniqueConstraint("iccid", "transaction_id"),)


class Attachment(Base):
    """One part of an MMS. The bytes live in a file named by their SHA-256 under the data directory."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    sequence: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    charset: Mapped[str | None] = mapped_column(String(40))
    content_id: Mapped[str | None] = mapped_column(String(255))
    content_location: Mapped[str | None] = mapped_column(String(255))
    thumbnail_sha256: Mapped[str | None] = mapped_column(String(64))


class Keyword(Base):
    """A keyword reserved on an access number (routing rules in ``appliance.rules.keywords``)."""

    __tablename__ = "keywords"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    access_number_id: Mapped[int] = mapped_column(ForeignKey("access_numbers.id"), index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    keyword: Mapped[str] = mapped_column(String(160))
    mode: Mapped[str] = mapped_column(String(8), default="base")  # exact | base | phrase
    typo_tolerant: Mapped[bool] = mapped_column(Boolean, default=False)
    # In order: [{"type": "join_group", "group": 3}, {"type": "autoreply", "text": "…"}, …] (DESIGN §4.3).
    actions: Mapped[list[dict[str, object]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class Group(Base):
    """A contact group of an account (e.g. the newsletter base a keyword grows)."""

    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("account_id", "name"),)


class Contact(Base):
    """A phone number an account knows. ``opted_out_at`` set: no send of that account reaches it."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    msisdn: Mapped[str] = mapped_column(String(SENDER_LENGTH))  # a message's sender: may be an e-mail address
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    opted_out_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (UniqueConstraint("account_id", "msisdn"),)


class GroupMember(Base):
    __tablename__ = "group_members"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), index=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    joined_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    keyword: Mapped[str | None] = mapped_column(String(160))  # the opt-in keyword, when it came by SMS
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))

    __table_args__ = (UniqueConstraint("group_id", "contact_id"),)


class ContactEvent(Base):
    """Opt-in and opt-out history of a contact: when, by which keyword or message, into which group."""

    __tablename__ = "contact_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    # active_history: the statistics summary takes a changed event off where it was counted.
    kind: Mapped[str] = mapped_column(String(16), active_history=True)  # opt_in | opt_out | joined | left
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id"))
    keyword: Mapped[str | None] = mapped_column(String(160))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), active_history=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)

    # Statistics reach a message's opt-in/opt-out from the message (appliance.statistics).
    __table_args__ = (Index("ix_contact_events_message", "message_id", "kind"),)


class Autoresponder(Base):
    """An automatic answer on a number (optionally only for one keyword), with a per-sender limit."""

    __tablename__ = "autoresponders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    access_number_id: Mapped[int | None] = mapped_column(ForeignKey("access_numbers.id"))
    keyword_id: Mapped[int | None] = mapped_column(ForeignKey("keywords.id"))
    text: Mapped[str] = mapped_column(Text)  # template: {sender} {keyword} {payload} {name}
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    max_per_sender: Mapped[int] = mapped_column(Integer, default=3)
    window_seconds: Mapped[int] = mapped_column(Integer, default=24 * 3600)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class AutoReply(Base):
    """An automatic answer that went out (or was held back by the rate limit): the limit's memory."""

    __tablename__ = "auto_replies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # None: a shared number's default reply to a message nobody's keyword matched (no account speaks).
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    access_number_id: Mapped[int] = mapped_column(ForeignKey("access_numbers.id"))
    recipient: Mapped[str] = mapped_column(String(SENDER_LENGTH))  # the sender answered (or held back)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"))
    outbound_id: Mapped[int | None] = mapped_column(ForeignKey("outbound_sms.id"))
    held_back: Mapped[str | None] = mapped_column(String(200))  # why no answer went out
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (Index("ix_auto_replies_recipient", "access_number_id", "recipient", "at"),)


class Poll(Base):
    __tablename__ = "polls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    question: Mapped[str] = mapped_column(Text)
    options: Mapped[list[dict[str, str]]] = mapped_column(JSON)  # [{"code": "A", "label": "Tak"}]
    policy: Mapped[str] = mapped_column(String(16), default="keep_first")  # keep_first | keep_last
    opens_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closes_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    confirmation: Mapped[str | None] = mapped_column(Text)  # reply to a counted vote
    closed_reply: Mapped[str | None] = mapped_column(Text)  # reply outside the voting time
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class PollVote(Base):
    __tablename__ = "poll_votes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # active_history: a keep-last vote that moves is taken off the statistics summary where it was.
    poll_id: Mapped[int] = mapped_column(ForeignKey("polls.id"), index=True, active_history=True)
    msisdn: Mapped[str] = mapped_column(String(SENDER_LENGTH))
    option_code: Mapped[str] = mapped_column(String(32), active_history=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), active_history=True)
    voted_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("poll_id", "msisdn"),
        Index("ix_poll_votes_message", "message_id"),  # statistics: the vote a message cast
    )


class Contest(Base):
    __tablename__ = "contests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(200))
    answer: Mapped[str | None] = mapped_column(String(500))  # None: every entry counts
    opens_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closes_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    entries_per_number: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ContestEntry(Base):
    __tablename__ = "contest_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # active_history: a changed entry is taken off the statistics summary where it was counted.
    contest_id: Mapped[int] = mapped_column(ForeignKey("contests.id"), index=True, active_history=True)
    msisdn: Mapped[str] = mapped_column(String(SENDER_LENGTH), active_history=True)
    answer: Mapped[str | None] = mapped_column(Text)
    correct: Mapped[bool] = mapped_column(Boolean, active_history=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), active_history=True)
    entered_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_contest_entries_number", "contest_id", "msisdn"),
        Index("ix_contest_entries_message", "message_id"),  # statistics: the entry a message made
    )


class ContestDraw(Base):
    """A draw of winners, with the seed that makes it repeatable for an audit."""

    __tablename__ = "contest_draws"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contest_id: Mapped[int] = mapped_column(ForeignKey("contests.id"), index=True)
    seed: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(16))  # random | first_correct
    winners: Mapped[list[str]] = mapped_column(JSON)
    drawn_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class GroupSend(Base):
    """A text to every member of a group, now or at ``scheduled_at``; opted-out contacts are skipped."""

    __tablename__ = "group_sends"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"))
    access_number_id: Mapped[int] = mapped_column(ForeignKey("access_numbers.id"))
    text: Mapped[str] = mapped_column(Text)
    scheduled_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # scheduled → sending → done (every text queued); failed (group or number gone); cancelled
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class GroupSendRecipient(Base):
    __tablename__ = "group_send_recipients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_send_id: Mapped[int] = mapped_column(ForeignKey("group_sends.id"), index=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    msisdn: Mapped[str] = mapped_column(String(SENDER_LENGTH))
    outbound_id: Mapped[int | None] = mapped_column(ForeignKey("outbound_sms.id"))
    status: Mapped[str] = mapped_column(String(16))  # queued | opted_out | invalid_number


class ForwardTarget(Base):
    """Where an account's messages are forwarded: a URL (webhook), an e-mail address or a phone.

    Which messages: every message of the account, narrowed by ``access_number_id`` and/or
    ``keyword_id`` when set; a keyword's ``forward`` action names a target whatever its filters.
    """

    __tablename__ = "forward_targets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(8))  # url | email | sms
    address: Mapped[str] = mapped_column(String(2000))  # the URL, the e-mail address, the phone number
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    access_number_id: Mapped[int | None] = mapped_column(ForeignKey("access_numbers.id"))
    keyword_id: Mapped[int | None] = mapped_column(ForeignKey("keywords.id"))
    # Only messages named by a keyword's forward action, never by the filters above.
    actions_only: Mapped[bool] = mapped_column(Boolean, default=False)
    # Webhooks: body format, HMAC secret (sealed: appliance.db.sealed), CA bundle (PEM) for a private CA, timeout.
    format: Mapped[str] = mapped_column(String(8), default="json")  # json | xml
    secret: Mapped[str | LockedSecret] = mapped_column(SealedText("forward_targets.secret"))
    ca_pem: Mapped[str | None] = mapped_column(Text)
    timeout_seconds: Mapped[float] = mapped_column(Float, default=10.0)
    # Attachment download URLs in forwards carry this token (GET /api/v1/attachments/{id}?token=). Sealed:
    # it opens the account's attachments. Found by comparing it with the targets of the attachment's account.
    download_token: Mapped[str | LockedSecret] = mapped_column(SealedText("forward_targets.download_token"))
    # E-mail: templates (None: the defaults of appliance.delivery.email) and the attachment cap.
    subject_template: Mapped[str | None] = mapped_column(Text)
    body_template: Mapped[str | None] = mapped_column(Text)
    attach_limit_bytes: Mapped[int] = mapped_column(Integer, default=10 * 1024 * 1024)
    # A delivery still failing this long after its message arrived is given up (dead letter).
    give_up_hours: Mapped[float] = mapped_column(Float, default=24.0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Delivery(Base):
    """One message to one target: the outbox row, written in the message's own transaction."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("target_id", "message_id", name="uq_deliveries_target_message"),
                      Index("ix_deliveries_due", "status", "next_attempt_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("forward_targets.id"), index=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    # X-Appliance-Message-Id: the same on every attempt, so a receiver can drop repeats.
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | delivered | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    give_up_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class DeliveryAttempt(Base):
    """What one try answered: the delivery log of the panel and the API."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    duration_ms: Mapped[float] = mapped_column(Float)
    ok: Mapped[bool] = mapped_column(Boolean)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    excerpt: Mapped[str | None] = mapped_column(Text)
