"""Relying-party clients: registration records, generated secrets (stored as keyed hashes) and a process cache."""
