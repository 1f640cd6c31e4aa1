"""MMS settings of the Polish operators (docs/mms.md, "Operator presets"), for the access number form.

Values as the operators publish them, cross-checked in Android's and LineageOS's APN lists and
mobile-broadband-provider-info. Heyah's sources differ on credentials (none, or heyah/heyah): none
is kept, as most lists give it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MmsPreset:
    key: str
    name: str
    mcc_mnc: str
    mmsc_url: str
    mms_proxy: str
    mms_apn: str
    mms_apn_user: str = ""
    mms_apn_password: str = ""


MMS_PRESETS: tuple[MmsPreset, ...] = (
    MmsPreset("orange", "Orange Polska", "26003", "http://mms.orange.pl", "192.168.6.104:8080", "mms", "mms", "mms"),
    MmsPreset("play", "Play", "26006", "http://mmsc.play.pl/mms/wapenc", "10.10.25.5:8080", "mms"),
    MmsPreset("plus", "Plus", "26001", "http://mms.plusgsm.pl:8002", "212.2.96.16:8080", "mms"),
    # T-Mobile's MMSC host "mms" resolves only behind its proxy: the proxy is required there.
    MmsPreset("t-mobile", "T-Mobile Polska", "26002", "http://mms/servlets/mms", "213.158.194.226:8080", "mms"),
    MmsPreset("heyah", "Heyah", "26002", "http://mms.heyah.pl/servlets/mms", "213.158.194.226:8080", "heyahmms"),
)
