"""Campaigns: what a stored message does (keyword actions, autoresponders, opt-outs), group sends and
conversations.

``engine.ActionEngine`` runs inside the transaction that stores a batch of messages, so an action
and its message are committed together; ``group_send.GroupSender`` turns due group sends into
outbound texts; ``dialogue`` reads an access number's conversations and queues replies. Every text
any of them sends is an ``OutboundSms`` row, sent later by its SIM.
"""

from appliance.campaigns.engine import ActionEngine
from appliance.campaigns.group_send import GroupSender

__all__ = ["ActionEngine", "GroupSender"]
