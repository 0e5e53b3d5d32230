# The bot in a container: dependencies from the hashed lock file first (a code edit does not
# reinstall them), then the code; a non-root user; the database in the /data volume.
# Build: docker build -t ideogram-bot .   Run: see README.md, section "Docker".
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    DATA_DIR=/data \
    METRICS_HOST=0.0.0.0 \
    METRICS_PORT=8080

# Fonts for the local preview provider's placeholder pictures: CJK and emoji glyphs (the
# Latin, Greek and Cyrillic font comes with the Python packages).
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-noto-cjk fonts-noto-color-emoji \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --system --uid 10001 --no-create-home --home-dir /app bot \
    && mkdir -p /data \
    && chown bot:bot /data

WORKDIR /app

# Exactly the locked versions, each checked against its hash (regenerate the lock with
# pip-compile, see README.md, section "Docker").
COPY requirements.lock ./
RUN pip install --no-deps --require-hashes -r requirements.lock

COPY bot ./bot
COPY cogs ./cogs

USER bot
VOLUME ["/data"]
EXPOSE 8080

# /healthz through the bot's own command (the slim image has no curl).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-m", "bot", "healthcheck"]

# The bot handles SIGTERM itself, also as PID 1: it refuses new commands, lets in-flight
# Discord edits finish (SHUTDOWN_GRACE_SECONDS), closes the database and exits 0.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "bot"]
