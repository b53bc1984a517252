# The lesson store API, the Telegram bot and the job workers: one image; the bot runs it as `python -m bot`,
# a worker as `python -m worker` (only with REDIS_URL).
#
#   docker build -t lesson-store .
#   docker run -p 8000:8000 -v lessons-data:/data \
#       -e SECRET_KEY=... -e ADMIN_PASSWORD=... -e ENVIRONMENT=production lesson-store
#
# By default the database is SQLite in the /data volume; set DATABASE_URL for PostgreSQL
# (see docker-compose.yml). The server creates/migrates the database on startup.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATABASE_URL=sqlite:////data/lessons.db

WORKDIR /app

RUN groupadd --system app \
    && useradd --system --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app \
    && mkdir -p /data \
    && chown app:app /data

# Dependencies first (the list in pyproject.toml), so that code changes do not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        >/tmp/dependencies.txt \
    && pip install --no-cache-dir -r /tmp/dependencies.txt \
    && rm /tmp/dependencies.txt

COPY alembic.ini ./
COPY alembic/ alembic/
COPY shared/ shared/
COPY backend/ backend/
COPY bot/ bot/
COPY worker/ worker/
# The project itself, in place (-e): the migrations (alembic/) are read beside the packages, not from a wheel.
RUN pip install --no-cache-dir --no-deps -e .

USER app
VOLUME ["/data"]
EXPOSE 8000

# python:3.11-slim has no curl; ask /health with the standard library.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status == 200 else 1)"]

# The app, not uvicorn, decides whose X-Forwarded-For to believe: set FORWARDED_ALLOW_IPS to your reverse
# proxy's address if one sits in front of the container (login throttling keys on the client's address).
CMD ["uvicorn", "backend.main:app", "--host", "0.0.0.0", "--port", "8000", "--no-proxy-headers"]
