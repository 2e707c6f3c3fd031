"""Accounts: people who sign in (citizens, professionals, staff), passwords, SSO sessions, brute-force control."""
