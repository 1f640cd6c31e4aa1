"""MMS reception: WAP push notifications turned into transfers, fetched from the operator's MMSC."""
