# Production image: PostgreSQL + Redis are external (MANDAT_DATABASE_URL, MANDAT_REDIS_URL).
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
RUN useradd --system --home /srv/mandat mandat
WORKDIR /srv/mandat
COPY pyproject.toml README.md alembic.ini ./
COPY idp ./idp
COPY alembic ./alembic
RUN pip install --no-cache-dir . && mkdir -p keys var && chown -R mandat keys var
USER mandat
EXPOSE 8000
# Run `python -m idp migrate` once per release (e.g. a Kubernetes Job) before starting the servers.
CMD ["python", "-m", "idp", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
