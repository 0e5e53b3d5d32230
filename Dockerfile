# Plain image: the same install steps as README.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DATABASE_URL=sqlite:////data/bot.db

RUN useradd --create-home --uid 10001 bot \
    && mkdir -p /data && chown bot:bot /data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY cogs ./cogs
RUN pip install .

USER bot
VOLUME ["/data"]
CMD ["python", "-m", "bot"]
