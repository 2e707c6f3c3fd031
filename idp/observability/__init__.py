"""Operating Mandat: metrics, structured logs with request ids, readiness, and how storage faults are answered.

- `metrics`: Prometheus counters and histograms, shared by the worker processes of one `serve`, exposed on
  MANDAT_METRICS_BIND (never on the public port).
- `logs`: JSON lines with the request id, and a last-resort filter that masks anything shaped like a token,
  a secret or a code that would reach a log line anyway.
- `http`: the outermost ASGI middleware: request id, access log line, request metrics.
- `readiness`: /readyz, PostgreSQL and Redis each checked with a timeout.
- `faults`: which exceptions mean "PostgreSQL or Redis is unreachable", answered 503 + Retry-After
  (`temporarily_unavailable` on the protocol endpoints), never 500.
"""
