# Parley's image: the API, webhooks and in-process worker on a SQLite file in the /data
# volume (or PostgreSQL through PARLEY_DATABASE_URL). Dependencies come from
# requirements.lock (every package pinned and hash-checked; `make lock` rewrites it).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PARLEY_DATABASE_URL=sqlite:////data/parley.db

WORKDIR /srv/parley
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY migrations ./migrations
# The project itself, built with the locked setuptools and nothing fetched beyond the lock.
RUN pip install --no-cache-dir --no-deps --no-build-isolation . \
    && useradd --create-home --uid 10001 parley \
    && mkdir -p /data && chown parley:parley /data

# The SQLite database (and anything else Parley keeps) lives here, outside the container.
VOLUME ["/data"]
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]
CMD ["sh", "-c", "parley migrate && parley serve --host 0.0.0.0 --port 8000"]
