"""Routing stored messages: the SIM's access number, its keywords, and the router they make.

Routers are built from the database and kept per SIM until that number's settings or keywords
change (seen by a cheap version look-up once per stored batch), because building one for a
thousand keywords costs milliseconds while routing a message costs microseconds.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from appliance.db.models import AccessNumber, Keyword
from appliance.rules import AccessNumberKind, KeywordRouter, RoutingDecision
from appliance.rules import Keyword as RuleKeyword


class RoutingTable:
    def __init__(self) -> None:
        self._routers: dict[str, tuple[tuple[Any, ...], KeywordRouter]] = {}
        self._lock = threading.Lock()

    def router_for(self, session: Session, iccid: str) -> KeywordRouter | None:
        """The router of the SIM's access number; None for a SIM no number is bound to."""
        access = session.execute(select(AccessNumber.id, AccessNumber.number, AccessNumber.kind,
                                        AccessNumber.account_id, AccessNumber.updated_at)
                                 .where(AccessNumber.iccid == iccid)).first()
        if access is None:
            return None
        count, changed = session.execute(select(func.count(Keyword.id), func.max(Keyword.updated_at))
                                         .where(Keyword.access_number_id == access.id)).one()
        version = (*access, count, changed)
        with self._lock:
            cached = self._routers.get(iccid)
        if cached is not None and cached[0] == version:
            return cached[1]
        keywords = [RuleKeyword(id=k.id, access_number=access.number, account=k.account_id, keyword=k.keyword,
                                mode=k.mode, typo_tolerant=k.typo_tolerant)
                    for k in session.scalars(select(Keyword).where(Keyword.access_number_id == access.id))]
        # A dedicated number not given to an account yet routes like a shared one: by keyword only.
        dedicated = access.kind == AccessNumberKind.DEDICATED and access.account_id is not None
        router = KeywordRouter(keywords, kind=AccessNumberKind.DEDICATED if dedicated else AccessNumberKind.SHARED,
                               owner=access.account_id if dedicated else None, access_number=access.number)
        with self._lock:
            self._routers[iccid] = (version, router)
        return router


def routed_fields(decision: RoutingDecision | None, complete_status: str) -> dict[str, Any]:
    """Message columns for a decision; ``complete_status`` is what an unrouted message gets."""
    if decision is None:
        return {"status": complete_status}
    status = complete_status if decision.unmatched or complete_status != "unmatched" else "routed"
    return {"status": status, "account_id": decision.account,
            "keyword_id": decision.keyword.id if decision.keyword else None,
            "keyword": decision.keyword.keyword if decision.keyword else None,
            "payload": decision.payload, "route_reason": decision.reason.value}
