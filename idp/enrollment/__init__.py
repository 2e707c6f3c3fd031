"""Citizen enrollment: insurer registry import and lookup, NAM/NIR validation, mailed security codes, activation.

The lead wires pages on top of `EnrollmentService` (service.py); the CLI commands live in cli.py.
"""
