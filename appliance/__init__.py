"""SMS/MMS reception appliance."""

__version__ = "0.1.0"
