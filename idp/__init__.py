"""Mandat: identity, authentication and delegation for health care."""

__version__ = "0.1.0"
