"""Browser-test setup for passkeys (shared live-server and Chromium fixtures come from tests/e2e/conftest.py)."""
