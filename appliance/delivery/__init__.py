"""Forwarding of received messages: outbox, webhook, e-mail, SMS."""
