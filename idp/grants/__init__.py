"""Grants (a person's authorization of a client) and their refresh tokens, stored by hash only."""
