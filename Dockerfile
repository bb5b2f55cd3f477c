# Workroom image: web (gunicorn), worker and beat share it; see docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    WORKROOM_VAR_DIR=/app/var

WORKDIR /app

RUN groupadd --system workroom && useradd --system --gid workroom --home-dir /app workroom

COPY pyproject.toml README.md* ./
COPY robocorp_api ./robocorp_api
COPY dashboard ./dashboard
RUN pip install .

COPY manage.py Procfile ./
COPY templates ./templates
COPY static ./static

# collectstatic needs settings that import; these throwaway values never reach a running container.
RUN SECRET_KEY=collectstatic-only \
    WORKROOM_ENCRYPTION_KEYS="build:$(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')" \
    ALLOWED_HOSTS=build \
    python manage.py collectstatic --noinput -v 0 \
    && mkdir -p /app/var && chown -R workroom:workroom /app/var

USER workroom
EXPOSE 8000

CMD ["gunicorn", "dashboard.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "60", "--access-logfile", "-", "--logger-class", "dashboard.lib.gunicorn_logging.RedactingLogger"]
