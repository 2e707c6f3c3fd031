"""Load drivers and server launchers behind `bench/run.py` (see bench/README.md)."""
