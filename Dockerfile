# syntax=docker/dockerfile:1
# Mandat, the OpenID Connect provider. The builder stage turns the checkout into wheels (Mandat's and its
# dependencies'); the final stage installs those wheels only: no source tree, no build tools, no keys.
#
#   docker build -t mandat .
#   docker run --rm --read-only -v mandat-data:/var/lib/mandat -v mandat-keys:/etc/mandat/keys mandat migrate
#   docker run -d --read-only --tmpfs /tmp -v mandat-data:/var/lib/mandat -v mandat-keys:/etc/mandat/keys \
#       -p 8000:8000 -e MANDAT_ISSUER=https://idp.example mandat
#
# Run `migrate` once per release (e.g. a Kubernetes Job) before starting the servers. Production: PostgreSQL
# and Redis are external (MANDAT_DATABASE_URL, MANDAT_REDIS_URL; then `serve ... --workers N`). The only
# writable paths are the two volumes and /tmp (metrics shared by the workers: a tmpfs), so the root filesystem can
# be read-only. deploy/ has the compose file and the Kubernetes manifests.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# What the wheel is built from (templates, locales, static and data files are package data of idp/;
# setup.py ships alembic/ as idp/_alembic).
COPY pyproject.toml setup.py README.md ./
COPY alembic ./alembic
COPY idp ./idp
RUN pip wheel --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# The wheels are bind-mounted from the builder for this one step, so they take no layer of the image.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels /wheels/mandat-*.whl \
    && groupadd --system --gid 10001 mandat \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/mandat --no-create-home \
       --shell /usr/sbin/nologin mandat \
    && install -d -o mandat -g mandat -m 0700 /var/lib/mandat /etc/mandat/keys
# SQLite (the default; override MANDAT_DATABASE_URL for PostgreSQL) and the signing keys + server secret, which
# are generated on first start into an empty MANDAT_KEYS_DIR or mounted there (a volume or a secret).
ENV MANDAT_DATABASE_URL=sqlite+aiosqlite:////var/lib/mandat/mandat.db \
    MANDAT_KEYS_DIR=/etc/mandat/keys
VOLUME ["/var/lib/mandat", "/etc/mandat/keys"]
WORKDIR /var/lib/mandat
# Numeric, so that Kubernetes' runAsNonRoot can check it.
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
ENTRYPOINT ["python", "-m", "idp"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
