# Quorum web / worker / beat image. Slim, non-root, pinned base.
# BASE_IMAGE: any Debian bookworm with python3.11 and pip; CI builds one with debootstrap
# (scripts/container-smoke) because its machines reach no container registry.
ARG BASE_IMAGE=python:3.11.7-slim-bookworm
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    QUORUM_VAR_DIR=/var/lib/quorum

RUN groupadd --system --gid 10001 quorum \
    && useradd --system --uid 10001 --gid quorum --home-dir /app --shell /usr/sbin/nologin quorum \
    && mkdir -p /app /var/lib/quorum \
    && chown quorum:quorum /var/lib/quorum

WORKDIR /app
COPY pyproject.toml README.md manage.py ./
# Every app package pyproject.toml installs (the image once copied four of ten and could not start).
COPY config ./config
COPY registry ./registry
COPY accounts ./accounts
COPY audit ./audit
COPY access ./access
COPY events ./events
COPY artifacts ./artifacts
COPY workflows ./workflows
COPY webhooks ./webhooks
COPY fronts ./fronts
COPY inventory ./inventory
COPY retention ./retention
# Project-wide template overrides (the admin sign-in page with the identity provider button).
COPY templates ./templates
RUN pip install . && python -c "import django, celery, boto3, psycopg2"
# Static files (admin, API docs) are collected at build time and served by whitenoise.
RUN QUORUM_STATIC_ROOT=/app/static DJANGO_SECRET_KEY=build-only DJANGO_DEBUG=false \
    python manage.py collectstatic --noinput --verbosity 0
ENV QUORUM_STATIC_ROOT=/app/static

USER quorum
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"
# Graceful: gunicorn finishes in-flight requests on SIGTERM within --graceful-timeout.
# Worker class, processes, threads and keep-alive: config/gunicorn.py (WEB_CONCURRENCY, GUNICORN_THREADS).
CMD ["gunicorn", "-c", "python:config.gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", \
     "--access-logfile", "-"]
