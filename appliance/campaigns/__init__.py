"""Campaigns: what a stored message does (keyword actions, autoresponders, opt-outs) and group sends.

``engine.ActionEngine`` runs inside the transaction that stores a batch of messages, so an action
and its message are committed together; ``group_send.GroupSender`` turns due group sends into
outbound texts. Every text either one sends is an ``OutboundSms`` row, sent later by its SIM.
"""

from appliance.campaigns.engine import ActionEngine
from appliance.campaigns.group_send import GroupSender

__all__ = ["ActionEngine", "GroupSender"]
