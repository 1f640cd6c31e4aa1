"""Modem state as the panel and the API see it: one row per SIM (ICCID), updated on every change."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from appliance.db.models import Modem, utcnow
from appliance.modem.session import ModemState, ModemStatus

log = logging.getLogger(__name__)

_COPIED = ("imsi", "imei", "msisdn", "manufacturer", "model", "revision", "operator", "port", "signal_dbm",
           "storage_used", "storage_total", "registration")


class ModemRegistry:
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._sessions = session_factory

    def record(self, status: ModemStatus) -> None:
        """Store the status under its SIM; a port without a known SIM yet has nothing to key on."""
        if status.iccid is None:
            return
        with self._sessions.begin() as session:
            modem = session.scalar(select(Modem).where(Modem.iccid == status.iccid))
            if modem is None:
                modem = Modem(iccid=status.iccid)
                session.add(modem)
            for name in _COPIED:
                value = getattr(status, name)
                if value is not None:
                    setattr(modem, name, value)
            modem.state = status.state.value
            modem.state_detail = status.detail
            if status.state is ModemState.READY:
                modem.last_seen_at = utcnow()
