"""One module per grant type; each exposes `GRANT_TYPE` and an async `handle(provider, client, request)`."""
