# One image for web, worker, training-worker, beat and the migrate step (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TICKETAI_DATA_DIR=/data

WORKDIR /app
RUN useradd --create-home --uid 1000 ticketai \
    && mkdir -p /data \
    && chown ticketai:ticketai /data

# Requirements first so code changes do not reinstall torch; the CPU index keeps CUDA out of the image.
COPY requirements.txt .
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu -r requirements.txt

COPY . .
# A throwaway key and data dir: nothing from the build may end up in the runtime volume.
RUN SECRET_KEY=collectstatic-only-not-a-secret TICKETAI_DATA_DIR=/tmp/build-data \
    python manage.py collectstatic --noinput --verbosity 0 \
    && rm -rf /tmp/build-data

USER ticketai
EXPOSE 8000
CMD ["gunicorn", "-c", "python:ticketai.gunicorn_config", "ticketai.wsgi", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
