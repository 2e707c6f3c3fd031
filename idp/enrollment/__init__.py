"""Citizen enrollment: insurer registry import and lookup, NAM/NIR validation, mailed security codes, activation.

`EnrollmentService` (service.py) holds the rules; views.py + activation_views.py are the pages (/enroll, /recover,
/activate, and /demo/outbox in demo mode); claims.py serves the citizen's claims to relying portals; recovery.py
revokes old credentials on a recovery; cli.py has `registry import`, `registry demo` and `letters export`.
"""
