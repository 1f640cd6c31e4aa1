"""REST API v1, configuration (DESIGN §4.3): accounts, access numbers, keywords, groups, contacts,
autoresponders, polls and contests, as CRUD under ``/api/v1``.

Same token check, permission rules, pages and error shape as :mod:`appliance.web.api`: an account's
token reads and changes its own account's rows (``account`` defaults to it), the admin's everything,
a read-only token nothing but reads. Creating and deleting accounts and access numbers, and binding a
number (its ``number``, ``iccid``, ``kind`` and ``account``), are the admin's; an account's token may
change its own account's name and opt-out words and its own numbers' MMS settings and default reply.
``PUT`` and ``PATCH`` both update only the fields sent. Errors: 400 names the
field that is wrong, 404 an unknown id (in the path, or referenced from the body: 400 there), 409 a
conflict (a keyword another keyword's reservation refuses, a duplicate name or number, deleting what
still has dependants).

Choices worth knowing
- A reference to an access number (``access_number`` of keywords and autoresponders) may be its id
  or its number as a string ("+48500100200"); it is always shown as the id.
- A shared number has no account; a dedicated one may have none until it is assigned. MMS is for
  dedicated numbers only (issue 5).
- Times are ISO 8601; one without an offset is taken as UTC. Shown as UTC with a ``Z``.
- An account's ``opt_out_words`` (besides STOP, which needs no listing) are kept as typed and compared
  as keywords are. Opt-out is honoured before routing, so a word may not begin a keyword it would
  take messages from (the account's own, or any on a shared number), nor a keyword begin with such
  a word: 409 ``keyword_conflict`` either way, checked when the words or the keyword are saved.
- Contacts' numbers are normalised to +<country><number>: spaces, dashes, dots and brackets go, a
  leading 00 becomes +, and nine digits without a country code are a Polish number (+48).
- ``GET /contacts.csv`` is UTF-8 with a byte-order mark (Excel opens it with the Polish letters
  intact), comma-separated, groups by name joined with "; "; a name that would start a spreadsheet
  formula (= + - @) is prefixed with ' (OWASP CSV injection). ``POST /contacts/import`` takes that
  file back, or any CSV with a ``msisdn`` column (``name`` optional, other columns ignored), comma
  or semicolon separated, UTF-8 or Windows-1250 (what Polish Excel saves). The rows are all written
  in one transaction; every row not imported is listed in ``skipped`` with its line and the reason.
"""

from __future__ import annotations

import csv
import io
import re
import secrets
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from appliance.audit import record_request
from appliance.db.models import (
    AccessNumber,
    Account,
    Autoresponder,
    Base,
    Contact,
    ContactEvent,
    Contest,
    ContestDraw,
    ContestEntry,
    ForwardTarget,
    Group,
    GroupMember,
    Keyword,
    Message,
    Poll,
    PollVote,
)
from appliance.db.statistics_summary import (
    forget_contest,
    forget_keyword,
    forget_poll,
    uncount_contact_events,
)
from appliance.representation import (
    access_number_json,
    account_json,
    autoresponder_json,
    contact_json,
    contest_draw_json,
    contest_entry_json,
    contest_json,
    group_json,
    keyword_json,
    poll_json,
    poll_results_json,
)
from appliance.retention import MAX_RETENTION_DAYS
from appliance.rules import is_opt_out, words
from appliance.rules import keywords as keyword_rules
from appliance.rules.contests import DrawMethod, draw_winners
from appliance.web import api, db_session
from appliance.web.access import current_principal
from appliance.web.api import (
    MAX_INTEGER,
    ApiError,
    _int_param,
    _json_body,
    _require_admin,
    page_response,
    paginated,
    require_change,
    require_writer,
    sees_access_number,
    visible_access_numbers,
)

# Nested in the API blueprint: its token check and JSON error handler apply here too.
bp = Blueprint("api_config", __name__)
api.bp.register_blueprint(bp)

M = TypeVar("M", bound=Base)

DEFAULT_COUNTRY_CODE = "48"
MAX_IMPORT_ROWS = 100_000
MAX_OPT_OUT_WORDS = 20
# Times far out of these years are typing mistakes, and near the ends of Python's calendar they no
# longer convert between time zones.
EARLIEST_TIME = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(9000, 1, 1, tzinfo=UTC)
ACTION_TYPES = ("join_group", "leave_groups", "autoreply", "poll_vote", "contest_entry", "forward")
_MISSING = object()


# --- field parsing -------------------------------------------------------------------------------

def _invalid(field: str, message: str) -> ApiError:
    return ApiError(400, "invalid_field", f"{field}: {message}")


def _text(body: dict[str, Any], field: str, *, required: bool = False, max_length: int | None = None,
          nullable: bool = True) -> Any:
    """The trimmed string in ``body[field]``; ``_MISSING`` when absent and not required."""
    if field not in body:
        if required:
            raise _invalid(field, "is required")
        return _MISSING
    value = body[field]
    if value is None:
        if required or not nullable:
            raise _invalid(field, "must not be null")
        return None
    if not isinstance(value, str):
        raise _invalid(field, f"must be a string, not {type(value).__name__}")
    value = value.strip()
    if "\x00" in value:
        raise _invalid(field, "must not contain NUL characters")
    if not value and (required or not nullable):
        raise _invalid(field, "must not be empty")
    if max_length is not None and len(value) > max_length:
        raise _invalid(field, f"must be at most {max_length} characters, not {len(value)}")
    return value or None


def _bool(body: dict[str, Any], field: str) -> Any:
    if field not in body:
        return _MISSING
    if not isinstance(body[field], bool):
        raise _invalid(field, "must be true or false")
    return body[field]


def _int(body: dict[str, Any], field: str, *, required: bool = False, minimum: int | None = None,
         maximum: int = MAX_INTEGER, nullable: bool = False) -> Any:
    if field not in body:
        if required:
            raise _invalid(field, "is required")
        return _MISSING
    value = body[field]
    if value is None and nullable and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(field, "must be an integer")
    if minimum is not None and value < minimum:
        raise _invalid(field, f"must be at least {minimum}, not {value}")
    if value > maximum:
        raise _invalid(field, f"must be at most {maximum}, not {value}")
    return value


def _choice(body: dict[str, Any], field: str, choices: Iterable[str]) -> Any:
    if field not in body:
        return _MISSING
    allowed = tuple(choices)
    if body[field] not in allowed:
        raise _invalid(field, f"must be one of {', '.join(allowed)}, not {body[field]!r}")
    return body[field]


def _time(body: dict[str, Any], field: str) -> Any:
    if field not in body:
        return _MISSING
    value = body[field]
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(field, "must be an ISO 8601 time such as 2026-05-01T12:00:00Z, or null")
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except ValueError:
        raise _invalid(field, f"{value!r} is not an ISO 8601 time such as 2026-05-01T12:00:00Z") from None
    except OverflowError:  # "0001-01-01T00:00:00+01:00" is in year 0 in UTC
        moment = None
    if moment is None or not EARLIEST_TIME <= moment < LATEST_TIME:
        raise _invalid(field, f"{value!r} is not between {EARLIEST_TIME.year} and {LATEST_TIME.year}")
    return moment


def _set(obj: Base, **values: Any) -> None:
    for name, value in values.items():
        if value is not _MISSING:
            setattr(obj, name, value)


def _owner(row: Base) -> int | None:
    """The account a row belongs to (an account, itself)."""
    return row.id if isinstance(row, Account) else row.account_id  # type: ignore[attr-defined]


def _visible(row: Base) -> bool:
    principal = current_principal()
    if isinstance(row, AccessNumber):
        return sees_access_number(principal, row)
    return principal.sees(_owner(row))


def _get(session: Session, model: type[M], ident: int, what: str) -> M:
    """The row, or 404 when there is none or the principal may not see it (another account's)."""
    row = session.get(model, ident)
    if row is None or not _visible(row):
        raise ApiError(404, "not_found", f"no {what} with id {ident}")
    return row


def _get_to_change(session: Session, model: type[M], ident: int, what: str) -> M:
    """The row to change or delete: 403 for a read-only token first, 404 as :func:`_get`, then 403 when
    the principal sees the row but may not change it (a shared number, for an account's token)."""
    require_writer()
    row = _get(session, model, ident, what)
    require_change(_owner(row))
    return row


def _ref(session: Session, model: type[M], ident: Any, field: str, what: str) -> M:
    """A row the body refers to by id: 400 (not 404) when it does not exist, naming the field."""
    if isinstance(ident, bool) or not isinstance(ident, int):
        raise _invalid(field, f"must be the integer id of a {what}")
    row = session.get(model, ident) if 0 < ident <= MAX_INTEGER else None
    if row is None or not _visible(row):
        raise _invalid(field, f"no {what} with id {ident}")
    return row


def _account_ref(session: Session, body: dict[str, Any], *, required: bool,
                 nullable: bool = False) -> Account | None | object:
    """``body["account"]``; an account's token may name only its own account (403 otherwise), and
    when it names none, a required account is its own. Null only where a row may have no account."""
    principal = current_principal()
    if "account" not in body:
        if required and principal.account_id is not None:
            return _ref(session, Account, principal.account_id, "account", "account")
        if required:
            raise _invalid("account", "is required")
        return _MISSING
    if not principal.is_admin and body["account"] != principal.account_id:
        raise ApiError(403, "forbidden", f"account: this token creates and changes only account "
                                         f"{principal.account_id}'s rows")
    if body["account"] is None:
        if required or not nullable:
            raise _invalid("account", "must not be null")
        return None
    return _ref(session, Account, body["account"], "account", "account")


def _access_number_ref(session: Session, value: Any, field: str = "access_number") -> AccessNumber:
    if isinstance(value, str):
        number = session.scalar(select(AccessNumber).where(AccessNumber.number == value.strip()))
        if number is None or not _visible(number):
            raise _invalid(field, f"no access number {value.strip()!r}")
        return number
    return _ref(session, AccessNumber, value, field, "access number")


def _account_filter(query: Any, model: Any) -> Any:
    """``query`` narrowed to the rows the principal sees, and to ``?account=`` when given."""
    principal = current_principal()
    query = query.where(visible_access_numbers(principal) if model is AccessNumber
                        else principal.visible(model.account_id))
    account = _int_param("account", default=0, minimum=1)
    return query.where(model.account_id == account) if account else query


def _commit(session: Session, conflict: str) -> None:
    """Commit; a unique or foreign-key violation (a concurrent duplicate, a row still referenced)
    becomes 409 with ``conflict`` as the message."""
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise ApiError(409, "conflict", conflict) from None


def _created(body: dict[str, Any]) -> tuple[Response, int]:
    return jsonify(body), 201


# --- accounts ------------------------------------------------------------------------------------

def _unique_name(session: Session, account: Account, name: str) -> None:
    other = session.scalar(select(Account).where(Account.name == name, Account.id != account.id))
    if other is not None:
        raise ApiError(409, "conflict", f"an account named {name!r} exists already (id {other.id})")


def _opt_out_words(body: dict[str, Any]) -> Any:
    """``body["opt_out_words"]`` checked and trimmed; ``_MISSING`` when absent."""
    if "opt_out_words" not in body:
        return _MISSING
    value = body["opt_out_words"]
    if not isinstance(value, list):
        raise _invalid("opt_out_words", 'must be a list of words such as ["WYPISZ", "NIE"], or [] for none')
    if len(value) > MAX_OPT_OUT_WORDS:
        raise _invalid("opt_out_words", f"at most {MAX_OPT_OUT_WORDS} words, not {len(value)}")
    checked: list[str] = []
    seen: dict[tuple[str, ...], int] = {}
    for index, word in enumerate(value):
        field = f"opt_out_words[{index}]"
        if not isinstance(word, str):
            raise _invalid(field, f"must be a string, not {type(word).__name__}")
        word = " ".join(word.split())
        form = words(word)
        if not form:
            raise _invalid(field, f"{word!r} has no letters or digits; words are compared as keywords are, "
                                  "without case, diacritics, punctuation and emoji")
        if len(word) > 160:
            raise _invalid(field, f"must be at most 160 characters, not {len(word)}")
        if is_opt_out(word):
            raise _invalid(field, f"{word!r} begins with STOP, which opts senders out on every number already")
        if form in seen:
            raise _invalid(field, f"{word!r} is the same word as opt_out_words[{seen[form]}] once case, "
                                  "diacritics and punctuation are set aside")
        seen[form] = index
        checked.append(word)
    return checked


def _opt_out_applies(number: AccessNumber, account_id: int | None) -> bool:
    """Whether the account's opt-out words are read on messages to ``number``: on its own dedicated
    numbers and on every number no account owns (appliance.campaigns.engine, "Who a STOP reaches")."""
    return number.kind != "dedicated" or number.account_id in (None, account_id)


def _check_opt_out_words(session: Session, account_id: int | None, opt_out_words: list[str]) -> None:
    numbers = {n.id: n for n in session.scalars(select(AccessNumber)) if _opt_out_applies(n, account_id)}
    keywords = [_rule(k, numbers[k.access_number_id])
                for k in session.scalars(select(Keyword).where(Keyword.access_number_id.in_(numbers)))]
    for word in opt_out_words:
        taken = keyword_rules.keywords_opted_out_by(word, keywords)
        if taken:
            raise ApiError(409, "keyword_conflict", f'The opt-out word "{word}" would take the messages of keyword '
                                                    f'"{taken[0].keyword}" (#{taken[0].id}) on {taken[0].access_number}: '
                                                    "an opt-out is honoured before any keyword is looked at; choose "
                                                    "another word or change that keyword.")


@bp.get("/accounts")
def list_accounts() -> Response:
    accounts, next_after_id = paginated(select(Account).where(current_principal().visible(Account.id)), Account.id)
    return page_response([account_json(a) for a in accounts], next_after_id)


@bp.post("/accounts")
def create_account() -> tuple[Response, int]:
    _require_admin()
    body, session = _json_body(), db_session()
    account = Account(opt_out_words=[])
    apply_account(session, account, body)
    session.add(account)
    _commit(session, f"an account named {account.name!r} exists already")
    return _created(account_json(account))


@bp.get("/accounts/<int:ident>")
def get_account(ident: int) -> Response:
    return jsonify(account_json(_get(db_session(), Account, ident, "account")))


@bp.route("/accounts/<int:ident>", methods=["PUT", "PATCH"])
def update_account(ident: int) -> Response:
    session = db_session()
    account = _get_to_change(session, Account, ident, "account")
    body = _json_body()
    apply_account(session, account, body)
    _commit(session, f"an account named {account.name!r} exists already")
    return jsonify(account_json(account))


def apply_account(session: Session, account: Account, body: dict[str, Any]) -> None:
    """Name and opt-out words from an API body or a panel form, checked the same way for both."""
    name = _text(body, "name", required=account.id is None, max_length=200, nullable=False)
    if name is not _MISSING:
        _unique_name(session, account, name)
        account.name = name
    opt_out_words = _opt_out_words(body)
    if opt_out_words is not _MISSING:
        _check_opt_out_words(session, account.id, opt_out_words)  # a new account owns no number yet
        account.opt_out_words = opt_out_words
    retention_days = _int(body, "retention_days", minimum=1, maximum=MAX_RETENTION_DAYS, nullable=True)
    if retention_days is not _MISSING:
        if not current_principal().is_admin:
            raise ApiError(403, "forbidden", "retention_days: only an admin sets how long an account's "
                                             "messages are kept")
        account.retention_days = retention_days


@bp.delete("/accounts/<int:ident>")
def delete_account(ident: int) -> Response:
    _require_admin()
    session = db_session()
    remove_account(session, _get(session, Account, ident, "account"))
    return Response(status=204)


def remove_account(session: Session, account: Account) -> None:
    """Refused (409) while anything still belongs to the account, listing what: nothing is deleted
    along with an account by surprise."""
    owned = []
    for model, what in ((AccessNumber, "access numbers"), (Keyword, "keywords"), (Group, "groups"),
                        (Contact, "contacts"), (Autoresponder, "autoresponders"), (Poll, "polls"),
                        (Contest, "contests")):
        count = session.scalar(select(func.count()).select_from(model).where(model.account_id == account.id))
        if count:
            owned.append(f"{count} {what}")
    if owned:
        raise ApiError(409, "conflict", f"account {account.id} ({account.name}) still has {', '.join(owned)}; "
                                        "delete or reassign them first")
    session.delete(account)
    _commit(session, f"account {account.id} is still referenced (by stored messages, for instance)")


# --- access numbers ------------------------------------------------------------------------------

_NUMBER = re.compile(r"^\+?\d{3,20}$")
_ICCID = re.compile(r"^\d{10,22}[Ff]?$")


def _apply_access_number(session: Session, number: AccessNumber, body: dict[str, Any], creating: bool) -> None:
    value = _text(body, "number", required=creating, max_length=32, nullable=False)
    if value is not _MISSING:
        value = re.sub(r"[\s\-()]", "", value)
        if not _NUMBER.match(value):
            raise _invalid("number", f"{value!r} is not a phone number (digits, optionally a leading +)")
    iccid = _text(body, "iccid", required=creating, max_length=32, nullable=False)
    if iccid is not _MISSING and not _ICCID.match(iccid):
        raise _invalid("iccid", f"{iccid!r} is not an ICCID (10 to 22 digits)")
    account = _account_ref(session, body, required=False, nullable=True)
    _set(number, number=value, iccid=iccid, kind=_choice(body, "kind", ("shared", "dedicated")),
         account_id=account.id if isinstance(account, Account) else account,
         mms_enabled=_bool(body, "mms_enabled"),
         mmsc_url=_text(body, "mmsc_url", max_length=500), mms_proxy=_text(body, "mms_proxy", max_length=200),
         mms_apn=_text(body, "mms_apn", max_length=100), mms_apn_user=_text(body, "mms_apn_user", max_length=100),
         mms_apn_password=_text(body, "mms_apn_password", max_length=100),
         unmatched_reply=_text(body, "unmatched_reply"))
    if number.kind is None:
        number.kind = "dedicated"
    if number.kind == "shared" and number.account_id is not None:
        raise _invalid("account", "a shared access number belongs to no account: its accounts reserve "
                                  "keywords on it; send account null or make it dedicated")
    if number.kind == "shared" and number.mms_enabled:
        raise _invalid("mms_enabled", "MMS can be enabled on dedicated access numbers only")
    for field, column in (("number", AccessNumber.number), ("iccid", AccessNumber.iccid)):
        other = session.scalar(select(AccessNumber).where(column == getattr(number, field),
                                                          AccessNumber.id != (number.id or 0)))
        if other is not None:
            raise ApiError(409, "conflict", f"access number {other.id} ({other.number}) already has "
                                            f"{field} {getattr(number, field)}")


@bp.get("/access-numbers")
def list_access_numbers() -> Response:
    numbers, next_after_id = paginated(_account_filter(select(AccessNumber), AccessNumber), AccessNumber.id)
    return page_response([access_number_json(n) for n in numbers], next_after_id)


@bp.post("/access-numbers")
def create_access_number() -> tuple[Response, int]:
    _require_admin()
    body, session = _json_body(), db_session()
    number = AccessNumber(mms_enabled=False)
    _apply_access_number(session, number, body, creating=True)
    session.add(number)
    _commit(session, f"the number {number.number} or the ICCID {number.iccid} is taken")
    return _created(access_number_json(number))


@bp.get("/access-numbers/<int:ident>")
def get_access_number(ident: int) -> Response:
    return jsonify(access_number_json(_get(db_session(), AccessNumber, ident, "access number")))


@bp.route("/access-numbers/<int:ident>", methods=["PUT", "PATCH"])
def update_access_number(ident: int) -> Response:
    """An account's token may change its own numbers' MMS settings and default reply; binding (number,
    ICCID, kind, account) is the admin's."""
    session = db_session()
    number = _get_to_change(session, AccessNumber, ident, "access number")
    body = _json_body()
    binding = (number.number, number.iccid, number.kind, number.account_id)
    with session.no_autoflush:  # the duplicate checks must not flush the duplicate first
        _apply_access_number(session, number, body, creating=False)
    if not current_principal().is_admin and (number.number, number.iccid, number.kind, number.account_id) != binding:
        raise ApiError(403, "forbidden", "only an admin token binds access numbers: number, iccid, kind and "
                                         "account are the admin's to change")
    _commit(session, f"the number {number.number} or the ICCID {number.iccid} is taken")
    return jsonify(access_number_json(number))


@bp.delete("/access-numbers/<int:ident>")
def delete_access_number(ident: int) -> Response:
    _require_admin()
    session = db_session()
    number = _get(session, AccessNumber, ident, "access number")
    remove_access_number(session, number)
    return Response(status=204)


def remove_access_number(session: Session, number: AccessNumber) -> None:
    """Deletes and commits; 409 while keywords are on the number or anything else refers to it."""
    count = session.scalar(select(func.count()).select_from(Keyword).where(Keyword.access_number_id == number.id))
    if count:
        raise ApiError(409, "conflict", f"access number {number.number} still has {count} keywords; "
                                        "delete them first")
    session.delete(number)
    _commit(session, f"access number {number.number} is still referenced (autoresponders, group sends)")


# --- keywords ------------------------------------------------------------------------------------

_ACTION_REFERENCES: dict[str, tuple[str, type[Group] | type[Poll] | type[Contest] | type[ForwardTarget]]] = {
    "join_group": ("group", Group), "poll_vote": ("poll", Poll), "contest_entry": ("contest", Contest),
    "forward": ("target", ForwardTarget)}


def _validate_actions(session: Session, actions: Any, account_id: int | None) -> list[dict[str, Any]]:
    if not isinstance(actions, list):
        raise _invalid("actions", "must be a list of actions")
    checked = []
    for index, action in enumerate(actions):
        field = f"actions[{index}]"
        if not isinstance(action, dict):
            raise _invalid(field, "must be an object with a type")
        kind = action.get("type")
        if kind not in ACTION_TYPES:
            raise _invalid(f"{field}.type", f"must be one of {', '.join(ACTION_TYPES)}, not {kind!r}")
        if kind in _ACTION_REFERENCES:
            key, model = _ACTION_REFERENCES[kind]
            what = key
            row = _ref(session, model, action.get(key), f"{field}.{key}", what)
            if account_id is None:
                raise _invalid(f"{field}.{key}", f"a keyword without an account cannot use a {what}")
            if row.account_id != account_id:
                raise _invalid(f"{field}.{key}", f"{what} {row.id} belongs to account {row.account_id}, "
                                                 f"not to the keyword's account {account_id}")
        if kind == "autoreply":
            text = action.get("text")
            if not isinstance(text, str) or not text.strip():
                raise _invalid(f"{field}.text", "an autoreply needs a non-empty text")
        checked.append(dict(action))
    return checked


def _rule(keyword: Keyword, number: AccessNumber) -> keyword_rules.Keyword:
    return keyword_rules.Keyword(id=keyword.id or 0, access_number=number.number, account=keyword.account_id,
                                 keyword=keyword.keyword, mode=keyword_rules.KeywordMode(keyword.mode),
                                 typo_tolerant=keyword.typo_tolerant)


def _apply_keyword(session: Session, keyword: Keyword, body: dict[str, Any], creating: bool) -> AccessNumber:
    if "access_number" in body:
        keyword.access_number_id = _access_number_ref(session, body["access_number"]).id
    elif creating:
        raise _invalid("access_number", "is required")
    number = session.get(AccessNumber, keyword.access_number_id)
    assert number is not None
    account = _account_ref(session, body, required=False, nullable=True)
    if isinstance(account, Account) or account is None:
        keyword.account_id = account.id if account is not None else None
    elif creating:
        # A dedicated number's keywords are its owner's; an account's token reserves for its account.
        keyword.account_id = number.account_id if number.account_id is not None else current_principal().account_id
    if number.kind == "dedicated" and number.account_id is not None and keyword.account_id != number.account_id:
        raise _invalid("account", f"access number {number.number} is dedicated to account {number.account_id}; "
                                  "its keywords belong to that account")
    _set(keyword, keyword=_text(body, "keyword", required=creating, max_length=160, nullable=False),
         mode=_choice(body, "mode", [m.value for m in keyword_rules.KeywordMode]),
         typo_tolerant=_bool(body, "typo_tolerant"))
    keyword.mode = keyword.mode or keyword_rules.KeywordMode.BASE.value
    keyword.typo_tolerant = bool(keyword.typo_tolerant)
    actions = body["actions"] if "actions" in body else (keyword.actions or [])
    keyword.actions = _validate_actions(session, actions, keyword.account_id)
    existing = session.scalars(select(Keyword).where(Keyword.access_number_id == number.id)).all()
    opt_out_words = {account_id: account_words
                     for account_id, account_words in session.execute(select(Account.id, Account.opt_out_words))
                     if account_words and _opt_out_applies(number, account_id)}
    try:
        keyword_rules.reserve([_rule(k, number) for k in existing if k is not keyword], _rule(keyword, number),
                              kind=keyword_rules.AccessNumberKind(number.kind), opt_out_words=opt_out_words)
    except keyword_rules.KeywordConflict as exc:
        raise ApiError(409, "keyword_conflict", str(exc)) from None
    return number


@bp.get("/keywords")
def list_keywords() -> Response:
    session = db_session()
    query = _account_filter(select(Keyword), Keyword)
    if request.args.get("access_number", "").strip():
        query = query.where(Keyword.access_number_id == _access_number_ref(
            session, _id_or_number(request.args["access_number"])).id)
    keywords, next_after_id = paginated(query, Keyword.id)
    numbers = dict(session.execute(select(AccessNumber.id, AccessNumber.number)).all())
    return page_response([keyword_json(k, numbers.get(k.access_number_id)) for k in keywords], next_after_id)


def _id_or_number(raw: str) -> int | str:
    """``?access_number=`` as an id (a short integer) or a number; an unencoded "+" in a query
    string arrives as a space, so " 48500100200" means "+48500100200"."""
    if raw.startswith(" ") and raw.strip().isdecimal():
        return "+" + raw.strip()
    raw = raw.strip()
    return int(raw) if raw.isascii() and raw.isdecimal() and len(raw) < 10 else raw


@bp.post("/keywords")
def create_keyword() -> tuple[Response, int]:
    require_writer()
    body, session = _json_body(), db_session()
    keyword = Keyword()
    with session.no_autoflush:
        number = _apply_keyword(session, keyword, body, creating=True)
        require_change(keyword.account_id)
    session.add(keyword)
    _commit(session, "the keyword could not be stored")
    return _created(keyword_json(keyword, number.number))


@bp.get("/keywords/<int:ident>")
def get_keyword(ident: int) -> Response:
    session = db_session()
    keyword = _get(session, Keyword, ident, "keyword")
    number = session.get(AccessNumber, keyword.access_number_id)
    return jsonify(keyword_json(keyword, number.number if number else None))


@bp.route("/keywords/<int:ident>", methods=["PUT", "PATCH"])
def update_keyword(ident: int) -> Response:
    session = db_session()
    keyword = _get_to_change(session, Keyword, ident, "keyword")
    body = _json_body()
    with session.no_autoflush:
        number = _apply_keyword(session, keyword, body, creating=False)
        require_change(keyword.account_id)
    _commit(session, "the keyword could not be stored")
    return jsonify(keyword_json(keyword, number.number))


@bp.delete("/keywords/<int:ident>")
def delete_keyword(ident: int) -> Response:
    session = db_session()
    keyword = _get_to_change(session, Keyword, ident, "keyword")
    remove_keyword(session, keyword)
    return Response(status=204)


def remove_keyword(session: Session, keyword: Keyword) -> None:
    """Deletes and commits; 409 while an autoresponder answers the keyword."""
    ident = keyword.id
    count = session.scalar(select(func.count()).select_from(Autoresponder).where(Autoresponder.keyword_id == ident))
    if count:
        raise ApiError(409, "conflict", f"keyword {ident} ({keyword.keyword}) has {count} autoresponders; "
                                        "delete them first")
    # Stored messages keep the keyword's text (Message.keyword), only the link goes; so do its statistics.
    session.execute(update(Message).where(Message.keyword_id == ident).values(keyword_id=None))
    forget_keyword(session, ident)
    session.delete(keyword)
    _commit(session, f"keyword {ident} is still referenced")


# --- groups --------------------------------------------------------------------------------------

def _keywords_using(session: Session, account_id: int, key: str, ident: int) -> list[int]:
    return [k.id for k in session.scalars(select(Keyword).where(Keyword.account_id == account_id))
            if any(isinstance(a, dict) and a.get(key) == ident for a in k.actions or [])]


def _unique_group(session: Session, group: Group) -> None:
    other = session.scalar(select(Group).where(Group.account_id == group.account_id, Group.name == group.name,
                                               Group.id != (group.id or 0)))
    if other is not None:
        raise ApiError(409, "conflict", f"account {group.account_id} has a group named {group.name!r} already "
                                        f"(id {other.id})")


def _apply_group(session: Session, group: Group, body: dict[str, Any], creating: bool) -> None:
    if creating:
        account = _account_ref(session, body, required=True)
        assert isinstance(account, Account)
        group.account_id = account.id
    elif "account" in body and body["account"] != group.account_id:
        raise _invalid("account", "a group cannot move to another account")
    _set(group, name=_text(body, "name", required=creating, max_length=200, nullable=False))
    with session.no_autoflush:  # the duplicate check must not flush the duplicate first
        _unique_group(session, group)


@bp.get("/groups")
def list_groups() -> Response:
    session = db_session()
    groups, next_after_id = paginated(_account_filter(select(Group), Group), Group.id)
    counts = dict(session.execute(select(GroupMember.group_id, func.count())
                                  .where(GroupMember.group_id.in_([g.id for g in groups]))
                                  .group_by(GroupMember.group_id)).all())
    return page_response([group_json(g, counts.get(g.id, 0)) for g in groups], next_after_id)


@bp.post("/groups")
def create_group() -> tuple[Response, int]:
    require_writer()
    body, session = _json_body(), db_session()
    group = Group()
    _apply_group(session, group, body, creating=True)
    session.add(group)
    _commit(session, f"account {group.account_id} has a group named {group.name!r} already")
    return _created(group_json(group, 0))


def _member_count(session: Session, ident: int) -> int:
    return session.scalar(select(func.count()).select_from(GroupMember).where(GroupMember.group_id == ident)) or 0


@bp.get("/groups/<int:ident>")
def get_group(ident: int) -> Response:
    session = db_session()
    return jsonify(group_json(_get(session, Group, ident, "group"), _member_count(session, ident)))


@bp.route("/groups/<int:ident>", methods=["PUT", "PATCH"])
def update_group(ident: int) -> Response:
    session = db_session()
    group = _get_to_change(session, Group, ident, "group")
    body = _json_body()
    _apply_group(session, group, body, creating=False)
    _commit(session, f"account {group.account_id} has a group named {group.name!r} already")
    return jsonify(group_json(group, _member_count(session, ident)))


def remove_group(session: Session, group: Group) -> None:
    """Deletes the group and its memberships (the contacts stay); refused while a keyword adds to it.
    The contacts' history keeps its events, without the group. The caller commits."""
    users = _keywords_using(session, group.account_id, "group", group.id)
    if users:
        raise ApiError(409, "conflict", f"group {group.id} ({group.name}) is used by keywords "
                                        f"{', '.join(map(str, users))}; change their actions first")
    session.execute(delete(GroupMember).where(GroupMember.group_id == group.id))
    session.execute(update(ContactEvent).where(ContactEvent.group_id == group.id).values(group_id=None))
    session.delete(group)


@bp.delete("/groups/<int:ident>")
def delete_group(ident: int) -> Response:
    session = db_session()
    remove_group(session, _get_to_change(session, Group, ident, "group"))
    _commit(session, f"group {ident} is still referenced (by group sends)")
    return Response(status=204)


@bp.get("/groups/<int:ident>/members")
def list_group_members(ident: int) -> Response:
    session = db_session()
    _get(session, Group, ident, "group")
    contacts, next_after_id = paginated(select(Contact).join(GroupMember, GroupMember.contact_id == Contact.id)
                                        .where(GroupMember.group_id == ident), Contact.id)
    groups = _groups_of(session, [c.id for c in contacts])
    return page_response([contact_json(c, groups.get(c.id, ())) for c in contacts], next_after_id)


# --- contacts ------------------------------------------------------------------------------------

def normalise_msisdn(raw: str, default_country_code: str = DEFAULT_COUNTRY_CODE) -> str:
    """``raw`` as +<country code><number>; ValueError says what is wrong.

    "600 100 200", "600-100-200", "48600100200", "0048 600 100 200" → "+48600100200": nine digits
    are a Polish mobile or landline number (Poland has no trunk prefix), eleven beginning with 48 are
    one written with its country code. Other numbers need their country code (+ or 00).
    """
    number = re.sub(r"[\s\-().\u00a0/]", "", raw or "")
    if number.startswith("00"):
        number = "+" + number[2:]
    if number.startswith("+"):
        digits = number[1:]
        # E.164: at most 15 digits; the shortest national numbers with a country code have 8 or so.
        if not (digits.isascii() and digits.isdigit()) or not 7 <= len(digits) <= 15:
            raise ValueError(f"{raw!r} is not a phone number (+, country code and 6 to 14 digits)")
        return "+" + digits
    if not (number.isascii() and number.isdigit()):
        raise ValueError(f"{raw!r} is not a phone number")
    if len(number) == 9:
        return f"+{default_country_code}{number}"
    if len(number) == 11 and number.startswith(default_country_code):
        return "+" + number
    raise ValueError(f"{raw!r}: add the country code (+{default_country_code} …); only 9-digit numbers "
                     f"are taken as +{default_country_code}")


def _groups_of(session: Session, contact_ids: list[int]) -> dict[int, list[int]]:
    groups: dict[int, list[int]] = {}
    if contact_ids:
        for contact_id, group_id in session.execute(
                select(GroupMember.contact_id, GroupMember.group_id).where(GroupMember.contact_id.in_(contact_ids))):
            groups.setdefault(contact_id, []).append(group_id)
    return groups


def _contact_json(session: Session, contact: Contact) -> dict[str, Any]:
    return contact_json(contact, _groups_of(session, [contact.id]).get(contact.id, ()))


def _apply_contact(session: Session, contact: Contact, body: dict[str, Any], creating: bool) -> None:
    account = _account_ref(session, body, required=creating)
    if isinstance(account, Account):
        if not creating and account.id != contact.account_id:
            raise _invalid("account", "a contact cannot move to another account")
        contact.account_id = account.id
    msisdn = _text(body, "msisdn", required=creating, max_length=40, nullable=False)
    if msisdn is not _MISSING:
        try:
            contact.msisdn = normalise_msisdn(msisdn)
        except ValueError as exc:
            raise _invalid("msisdn", str(exc)) from None
        with session.no_autoflush:  # the duplicate check must not flush the duplicate first
            other = session.scalar(select(Contact).where(Contact.account_id == contact.account_id,
                                                         Contact.msisdn == contact.msisdn,
                                                         Contact.id != (contact.id or 0)))
        if other is not None:
            raise ApiError(409, "conflict", f"account {contact.account_id} has the contact {contact.msisdn} "
                                            f"already (id {other.id})")
    _set(contact, name=_text(body, "name", max_length=200))
    opted_out_at = _time(body, "opted_out_at")
    if opted_out_at is not _MISSING and (opted_out_at is None) != (contact.opted_out_at is None):
        # Recorded like an SMS opt-out or opt-in, so the contact's history tells who changed it.
        contact.opted_out_at = opted_out_at
        session.flush()
        session.add(ContactEvent(contact_id=contact.id, kind="opt_in" if opted_out_at is None else "opt_out",
                                 at=opted_out_at or datetime.now(UTC)))
    elif opted_out_at is not _MISSING:
        contact.opted_out_at = opted_out_at
    if "groups" in body:
        wanted = body["groups"]
        if not isinstance(wanted, list):
            raise _invalid("groups", "must be a list of group ids")
        groups = [_ref(session, Group, g, f"groups[{i}]", "group") for i, g in enumerate(wanted)]
        for i, group in enumerate(groups):
            if group.account_id != contact.account_id:
                raise _invalid(f"groups[{i}]", f"group {group.id} belongs to account {group.account_id}, "
                                               f"not to the contact's account {contact.account_id}")
        session.flush()
        current = set(_groups_of(session, [contact.id]).get(contact.id, []))
        target = {g.id for g in groups}
        session.execute(delete(GroupMember).where(GroupMember.contact_id == contact.id,
                                                  GroupMember.group_id.in_(current - target)))
        for group_id in sorted(target - current):
            session.add(GroupMember(group_id=group_id, contact_id=contact.id))
        for group_id in sorted(current - target):
            session.add(ContactEvent(contact_id=contact.id, kind="left", group_id=group_id))
        for group_id in sorted(target - current):
            session.add(ContactEvent(contact_id=contact.id, kind="joined", group_id=group_id))


@bp.get("/contacts")
def list_contacts() -> Response:
    contacts, next_after_id = paginated(_account_filter(select(Contact), Contact), Contact.id)
    groups = _groups_of(db_session(), [c.id for c in contacts])
    return page_response([contact_json(c, groups.get(c.id, ())) for c in contacts], next_after_id)


def add_contact(session: Session, body: dict[str, Any]) -> Contact:
    contact = Contact()
    # In two steps: the contact needs its id before memberships and events can refer to it.
    _apply_contact(session, contact, {k: v for k, v in body.items() if k not in ("groups", "opted_out_at")},
                   creating=True)
    session.add(contact)
    session.flush()
    _apply_contact(session, contact, {k: body[k] for k in ("groups", "opted_out_at") if k in body}, creating=False)
    return contact


@bp.post("/contacts")
def create_contact() -> tuple[Response, int]:
    require_writer()
    body, session = _json_body(), db_session()
    contact = add_contact(session, body)
    _commit(session, f"account {contact.account_id} has the contact {contact.msisdn} already")
    return _created(_contact_json(session, contact))


@bp.get("/contacts/<int:ident>")
def get_contact(ident: int) -> Response:
    session = db_session()
    return jsonify(_contact_json(session, _get(session, Contact, ident, "contact")))


@bp.route("/contacts/<int:ident>", methods=["PUT", "PATCH"])
def update_contact(ident: int) -> Response:
    session = db_session()
    contact = _get_to_change(session, Contact, ident, "contact")
    body = _json_body()
    _apply_contact(session, contact, body, creating=False)
    _commit(session, f"account {contact.account_id} has the contact {contact.msisdn} already")
    return jsonify(_contact_json(session, contact))


def remove_contact(session: Session, contact: Contact) -> None:
    """Deletes the contact with its memberships and history (an erasure request); the caller commits."""
    session.execute(delete(GroupMember).where(GroupMember.contact_id == contact.id))
    uncount_contact_events(session, contact.id)  # a bulk delete: the statistics summary is told first
    session.execute(delete(ContactEvent).where(ContactEvent.contact_id == contact.id))
    session.delete(contact)


@bp.delete("/contacts/<int:ident>")
def delete_contact(ident: int) -> Response:
    session = db_session()
    remove_contact(session, _get_to_change(session, Contact, ident, "contact"))
    _commit(session, f"contact {ident} is still referenced (by group sends)")
    return Response(status=204)


def _required_account_param(session: Session) -> Account:
    """``?account=``; an account's token may leave it out for its own."""
    own = current_principal().account_id
    account_id = _int_param("account", default=own or 0, minimum=1 if own is None else 0)
    if not account_id:
        raise ApiError(400, "invalid_parameter", "account: give the account id, e.g. ?account=1")
    return _get(session, Account, account_id, "account")


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def contacts_csv(session: Session, account: Account) -> str:
    """The account's contacts as the CSV ``GET /contacts.csv`` sends (module docstring)."""
    contacts = list(session.scalars(select(Contact).where(Contact.account_id == account.id).order_by(Contact.id)))
    names = dict(session.execute(select(Group.id, Group.name).where(Group.account_id == account.id)).all())
    groups = _groups_of(session, [c.id for c in contacts])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["msisdn", "name", "groups", "opted_out_at"])
    for contact in contacts:
        name = contact.name or ""
        if name.startswith(_FORMULA_START):
            name = "'" + name
        group_names = "; ".join(sorted(names[g] for g in groups.get(contact.id, ()) if g in names))
        opted_out = contact.opted_out_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if contact.opted_out_at else ""
        writer.writerow([contact.msisdn, name, group_names, opted_out])
    return "\ufeff" + out.getvalue()


@bp.get("/contacts.csv")
def export_contacts() -> Response:
    session = db_session()
    account = _required_account_param(session)
    response = Response(contacts_csv(session, account), content_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="contacts-account-{account.id}.csv"'
    return response


def _decode_upload(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1250", errors="replace")  # Excel's "CSV" in a Polish Windows


_MSISDN_HEADERS = ("msisdn", "number", "phone", "numer", "telefon")


@bp.post("/contacts/import")
def import_contacts() -> Response:
    require_writer()
    session = db_session()
    account = _required_account_param(session)
    require_change(account.id)
    group = None
    if request.args.get("group", "").strip():
        raw = request.args["group"].strip()
        group = session.get(Group, int(raw)) if raw.isascii() and raw.isdecimal() and int(raw) <= MAX_INTEGER else None
        if group is None or group.account_id != account.id:
            raise ApiError(400, "invalid_parameter", f"group: account {account.id} has no group {raw!r}")
    upload = next(iter(request.files.values()), None)
    report = import_contacts_csv(session, account, group, upload.read() if upload is not None else request.get_data())
    _commit(session, "the import collided with a concurrent change; nothing was imported, send it again")
    return jsonify(report)


def import_contacts_csv(session: Session, account: Account, group: Group | None, data: bytes) -> dict[str, Any]:
    """Adds or updates the account's contacts from a CSV file (module docstring), and adds them to
    ``group``; the caller commits. The report: imported, updated, unchanged, skipped lines and why,
    the delimiter read."""
    text = _decode_upload(data)
    if not text.strip():
        raise ApiError(400, "invalid_body", "send the CSV as the request body (Content-Type: text/csv), "
                                            "with a header row: msisdn,name")
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise ApiError(400, "invalid_body", f"line {line} contains a NUL byte: is this a spreadsheet (.xlsx) "
                                            "rather than CSV? Save it as CSV; nothing was imported")
    first_line = text.splitlines()[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [h.strip().lower() for h in next(reader)]
    column = next((header.index(h) for h in _MSISDN_HEADERS if h in header), None)
    if column is None:
        raise ApiError(400, "invalid_body", f"the header row ({first_line[:80]!r}) has no msisdn column; "
                                            "expected a header row such as: msisdn,name")
    name_column = header.index("name") if "name" in header else None
    existing = {c.msisdn: c for c in session.scalars(select(Contact).where(Contact.account_id == account.id))}
    members = set(session.scalars(select(GroupMember.contact_id).where(GroupMember.group_id == group.id))) \
        if group is not None else set()
    seen: dict[str, int] = {}
    imported = updated = unchanged = 0
    skipped: list[dict[str, Any]] = []
    joining: list[Contact] = []  # added to the group once the new contacts have ids
    rows = 0
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            rows += 1
            if rows > MAX_IMPORT_ROWS:
                raise ApiError(413, "too_large", f"at most {MAX_IMPORT_ROWS} contacts per import; split the file")
            raw = row[column] if column < len(row) else ""
            try:
                msisdn = normalise_msisdn(raw)
            except ValueError as exc:
                skipped.append({"line": line, "reason": str(exc) if raw.strip() else "no msisdn"})
                continue
            if msisdn in seen:
                skipped.append({"line": line, "reason": f"{msisdn} is on line {seen[msisdn]} already"})
                continue
            seen[msisdn] = line
            name = row[name_column].strip() if name_column is not None and name_column < len(row) else ""
            if name[:1] == "'" and name[1:2] in _FORMULA_START:
                name = name[1:]  # our own export's guard against spreadsheet formulas
            if len(name) > 200:
                skipped.append({"line": line, "reason": f"the name has {len(name)} characters; at most 200"})
                continue
            contact = existing.get(msisdn)
            if contact is None:
                contact = existing[msisdn] = Contact(account_id=account.id, msisdn=msisdn, name=name or None)
                session.add(contact)
                imported += 1
                if group is not None:
                    joining.append(contact)
                continue
            changed = bool(name) and contact.name != name
            if changed:
                contact.name = name
            if group is not None and contact.id not in members:
                joining.append(contact)
                changed = True
            updated += changed
            unchanged += not changed
    except csv.Error as exc:  # a NUL byte, an endless quoted field …
        session.rollback()
        raise ApiError(400, "invalid_body", f"line {reader.line_num}: {exc}; nothing was imported") from None
    session.flush()
    for contact in joining:
        session.add(GroupMember(group_id=group.id, contact_id=contact.id))
        session.add(ContactEvent(contact_id=contact.id, kind="joined", group_id=group.id))
    return {"imported": imported, "updated": updated, "unchanged": unchanged, "skipped": skipped,
            "delimiter": delimiter}


# --- autoresponders ------------------------------------------------------------------------------

def _apply_autoresponder(session: Session, responder: Autoresponder, body: dict[str, Any], creating: bool) -> None:
    account = _account_ref(session, body, required=creating)
    if isinstance(account, Account):
        responder.account_id = account.id
    if "access_number" in body:
        number = None if body["access_number"] is None else _access_number_ref(session, body["access_number"])
        if number is not None and number.kind == "dedicated" and number.account_id not in (None, responder.account_id):
            raise _invalid("access_number", f"access number {number.number} is dedicated to account "
                                            f"{number.account_id}")
        responder.access_number_id = number.id if number else None
    if "keyword" in body:
        keyword = None if body["keyword"] is None else _ref(session, Keyword, body["keyword"], "keyword", "keyword")
        if keyword is not None and keyword.account_id != responder.account_id:
            raise _invalid("keyword", f"keyword {keyword.id} belongs to account {keyword.account_id}")
        if keyword is not None and responder.access_number_id not in (None, keyword.access_number_id):
            raise _invalid("keyword", f"keyword {keyword.id} is on another access number")
        responder.keyword_id = keyword.id if keyword else None
    _set(responder, text=_text(body, "text", required=creating, nullable=False),
         enabled=_bool(body, "enabled"), max_per_sender=_int(body, "max_per_sender", minimum=1),
         window_seconds=_int(body, "window_seconds", minimum=1))


def _crud_get(model: type[M], what: str, render: Callable[[M], dict[str, Any]]) -> Callable[[int], Response]:
    def view(ident: int) -> Response:
        return jsonify(render(_get(db_session(), model, ident, what)))
    return view


@bp.get("/autoresponders")
def list_autoresponders() -> Response:
    responders, next_after_id = paginated(_account_filter(select(Autoresponder), Autoresponder), Autoresponder.id)
    return page_response([autoresponder_json(a) for a in responders], next_after_id)


@bp.post("/autoresponders")
def create_autoresponder() -> tuple[Response, int]:
    require_writer()
    body, session = _json_body(), db_session()
    responder = Autoresponder(enabled=True, max_per_sender=3, window_seconds=24 * 3600)
    with session.no_autoflush:
        _apply_autoresponder(session, responder, body, creating=True)
    session.add(responder)
    _commit(session, "the autoresponder could not be stored")
    return _created(autoresponder_json(responder))


bp.add_url_rule("/autoresponders/<int:ident>", "get_autoresponder",
                _crud_get(Autoresponder, "autoresponder", autoresponder_json), methods=["GET"])


@bp.route("/autoresponders/<int:ident>", methods=["PUT", "PATCH"])
def update_autoresponder(ident: int) -> Response:
    session = db_session()
    responder = _get_to_change(session, Autoresponder, ident, "autoresponder")
    body = _json_body()
    with session.no_autoflush:
        _apply_autoresponder(session, responder, body, creating=False)
    _commit(session, "the autoresponder could not be stored")
    return jsonify(autoresponder_json(responder))


@bp.delete("/autoresponders/<int:ident>")
def delete_autoresponder(ident: int) -> Response:
    session = db_session()
    session.delete(_get_to_change(session, Autoresponder, ident, "autoresponder"))
    _commit(session, f"autoresponder {ident} is still referenced")
    return Response(status=204)


# --- polls ---------------------------------------------------------------------------------------

def _window(body: dict[str, Any], row: Poll | Contest) -> None:
    _set(row, opens_at=_time(body, "opens_at"), closes_at=_time(body, "closes_at"))
    if row.opens_at is not None and row.closes_at is not None and row.closes_at <= row.opens_at:
        raise _invalid("closes_at", "must be after opens_at")


def _options(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise _invalid("options", 'must be a non-empty list of {"code", "label"}')
    options, codes = [], set()
    for index, option in enumerate(value):
        if not isinstance(option, dict):
            raise _invalid(f"options[{index}]", 'must be an object {"code", "label"}')
        code = _text(option, "code", required=True, max_length=32, nullable=False)
        label = _text(option, "label", max_length=500)
        if code.casefold() in codes:
            raise _invalid(f"options[{index}].code", f"{code!r} appears twice (codes are compared without case)")
        codes.add(code.casefold())
        options.append({"code": code, "label": label if isinstance(label, str) else code})
    return options


def _apply_poll(session: Session, poll: Poll, body: dict[str, Any], creating: bool) -> None:
    account = _account_ref(session, body, required=creating)
    if isinstance(account, Account):
        if not creating and account.id != poll.account_id:
            raise _invalid("account", "a poll cannot move to another account")
        poll.account_id = account.id
    if "options" in body:
        poll.options = _options(body["options"])
    elif creating:
        raise _invalid("options", "is required")
    _set(poll, question=_text(body, "question", required=creating, nullable=False),
         policy=_choice(body, "policy", ("keep_first", "keep_last")),
         confirmation=_text(body, "confirmation"), closed_reply=_text(body, "closed_reply"))
    poll.policy = poll.policy or "keep_first"
    _window(body, poll)


@bp.get("/polls")
def list_polls() -> Response:
    polls, next_after_id = paginated(_account_filter(select(Poll), Poll), Poll.id)
    return page_response([poll_json(p) for p in polls], next_after_id)


@bp.post("/polls")
def create_poll() -> tuple[Response, int]:
    require_writer()
    body, session = _json_body(), db_session()
    poll = Poll()
    _apply_poll(session, poll, body, creating=True)
    session.add(poll)
    _commit(session, "the poll could not be stored")
    return _created(poll_json(poll))


bp.add_url_rule("/polls/<int:ident>", "get_poll", _crud_get(Poll, "poll", poll_json), methods=["GET"])


@bp.route("/polls/<int:ident>", methods=["PUT", "PATCH"])
def update_poll(ident: int) -> Response:
    session = db_session()
    poll = _get_to_change(session, Poll, ident, "poll")
    body = _json_body()
    _apply_poll(session, poll, body, creating=False)
    _commit(session, "the poll could not be stored")
    return jsonify(poll_json(poll))


def remove_poll(session: Session, poll: Poll) -> None:
    """Deletes the poll with its votes; refused while a keyword votes in it. The caller commits."""
    users = _keywords_using(session, poll.account_id, "poll", poll.id)
    if users:
        raise ApiError(409, "conflict", f"poll {poll.id} is used by keywords {', '.join(map(str, users))}; "
                                        "change their actions first")
    forget_poll(session, poll.id)  # a bulk delete: the statistics summary is told first
    session.execute(delete(PollVote).where(PollVote.poll_id == poll.id))
    session.delete(poll)


@bp.delete("/polls/<int:ident>")
def delete_poll(ident: int) -> Response:
    session = db_session()
    remove_poll(session, _get_to_change(session, Poll, ident, "poll"))
    _commit(session, f"poll {ident} is still referenced")
    return Response(status=204)


def poll_votes(session: Session, poll_id: int) -> dict[str, int]:
    """Votes per option code (codes nobody voted for are absent)."""
    return dict(session.execute(select(PollVote.option_code, func.count()).where(PollVote.poll_id == poll_id)
                                .group_by(PollVote.option_code)).all())


@bp.get("/polls/<int:ident>/results")
def poll_results(ident: int) -> Response:
    session = db_session()
    poll = _get(session, Poll, ident, "poll")
    return jsonify(poll_results_json(poll, poll_votes(session, ident)))


# --- contests ------------------------------------------------------------------------------------

def _apply_contest(session: Session, contest: Contest, body: dict[str, Any], creating: bool) -> None:
    account = _account_ref(session, body, required=creating)
    if isinstance(account, Account):
        if not creating and account.id != contest.account_id:
            raise _invalid("account", "a contest cannot move to another account")
        contest.account_id = account.id
    _set(contest, name=_text(body, "name", max_length=200), answer=_text(body, "answer", max_length=500),
         entries_per_number=_int(body, "entries_per_number", minimum=1))
    contest.entries_per_number = contest.entries_per_number or 1
    _window(body, contest)


@bp.get("/contests")
def list_contests() -> Response:
    contests, next_after_id = paginated(_account_filter(select(Contest), Contest), Contest.id)
    return page_response([contest_json(c) for c in contests], next_after_id)


@bp.post("/contests")
def create_contest() -> tuple[Response, int]:
    require_writer()
    body, session = _json_body(), db_session()
    contest = Contest()
    _apply_contest(session, contest, body, creating=True)
    session.add(contest)
    _commit(session, "the contest could not be stored")
    return _created(contest_json(contest))


bp.add_url_rule("/contests/<int:ident>", "get_contest", _crud_get(Contest, "contest", contest_json),
                methods=["GET"])


@bp.route("/contests/<int:ident>", methods=["PUT", "PATCH"])
def update_contest(ident: int) -> Response:
    session = db_session()
    contest = _get_to_change(session, Contest, ident, "contest")
    body = _json_body()
    _apply_contest(session, contest, body, creating=False)
    _commit(session, "the contest could not be stored")
    return jsonify(contest_json(contest))


def remove_contest(session: Session, contest: Contest) -> None:
    """Deletes the contest with its entries and draws; refused while a keyword enters it. The caller
    commits."""
    users = _keywords_using(session, contest.account_id, "contest", contest.id)
    if users:
        raise ApiError(409, "conflict", f"contest {contest.id} is used by keywords {', '.join(map(str, users))}; "
                                        "change their actions first")
    session.execute(delete(ContestDraw).where(ContestDraw.contest_id == contest.id))
    forget_contest(session, contest.id)  # a bulk delete: the statistics summary is told first
    session.execute(delete(ContestEntry).where(ContestEntry.contest_id == contest.id))
    session.delete(contest)


@bp.delete("/contests/<int:ident>")
def delete_contest(ident: int) -> Response:
    session = db_session()
    remove_contest(session, _get_to_change(session, Contest, ident, "contest"))
    _commit(session, f"contest {ident} is still referenced")
    return Response(status=204)


@bp.get("/contests/<int:ident>/entries")
def list_contest_entries(ident: int) -> Response:
    session = db_session()
    _get(session, Contest, ident, "contest")
    entries, next_after_id = paginated(select(ContestEntry).where(ContestEntry.contest_id == ident), ContestEntry.id)
    return page_response([contest_entry_json(e) for e in entries], next_after_id)


@bp.get("/contests/<int:ident>/draws")
def list_contest_draws(ident: int) -> Response:
    """Every draw made, with its seed: the audit trail."""
    session = db_session()
    _get(session, Contest, ident, "contest")
    draws, next_after_id = paginated(select(ContestDraw).where(ContestDraw.contest_id == ident), ContestDraw.id)
    return page_response([contest_draw_json(d) for d in draws], next_after_id)


@bp.post("/contests/<int:ident>/draw")
def draw_contest(ident: int) -> tuple[Response, int]:
    session = db_session()
    contest = _get_to_change(session, Contest, ident, "contest")
    draw = make_draw(session, contest, _json_body())
    _commit(session, "the draw could not be stored")
    return _created(contest_draw_json(draw))


def make_draw(session: Session, contest: Contest, body: dict[str, Any]) -> ContestDraw:
    """``{"winners": N, "method"?: "random"|"first_correct", "seed"?}`` → the draw, added to the session.

    Replaying: the same seed over the same entries gives the same winners (``appliance.rules.contests``).
    """
    winners = _int(body, "winners", required=True, minimum=1)
    method = _choice(body, "method", [m.value for m in DrawMethod])
    method = DrawMethod.RANDOM if method is _MISSING else DrawMethod(method)
    seed = _text(body, "seed", max_length=64, nullable=False)
    seed = secrets.token_hex(16) if seed is _MISSING else seed
    entries = list(session.scalars(select(ContestEntry).where(ContestEntry.contest_id == contest.id)))
    chosen = draw_winners(entries, winners, seed, method, correct_only=contest.answer is not None)
    if not chosen:
        eligible = "correct entries" if contest.answer is not None else "entries"
        raise ApiError(409, "no_entries", f"contest {contest.id} has no {eligible} to draw from")
    draw = ContestDraw(contest_id=contest.id, seed=seed, method=method.value, winners=chosen)
    session.add(draw)
    # Who drew, and from where; the draw keeps the winners, whose numbers stay out of the log.
    name = f" ({contest.name})" if contest.name else ""
    record_request(session, "contest.draw", target=f"contest {contest.id}{name}",
                   details={"seed": seed, "method": method.value, "winners": len(chosen)})
    return draw
