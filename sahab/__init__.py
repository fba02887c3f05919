"""Sahab: a Pulumi distribution for a UAE-resident ML platform, with offline plans and policy gates."""

__version__ = "0.1.0"
