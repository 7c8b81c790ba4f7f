# sops: one image for web, worker and scheduler (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=sops_api.settings \
    SOPS_VAR_DIR=/var/lib/sops \
    STATIC_ROOT=/app/static \
    PROMETHEUS_MULTIPROC_DIR=/tmp/sops-metrics

WORKDIR /app

# Dependencies first: this layer is rebuilt only when pyproject.toml changes.
COPY pyproject.toml README.md ./
RUN mkdir -p sops_common sops_api access_app templates_app tasks_app periodic_app clocked_app pipeline_engine \
    && pip install . \
    && pip uninstall -y sops

COPY . .
RUN pip install --no-deps . \
    && SECRET_KEY=build-only python manage.py collectstatic --noinput -v 0 \
    && useradd --system --home /var/lib/sops --create-home sops \
    && mkdir -p /var/lib/sops "$PROMETHEUS_MULTIPROC_DIR" \
    && chown -R sops /var/lib/sops "$PROMETHEUS_MULTIPROC_DIR"

USER sops
EXPOSE 8000

# The web server by default; docker-compose overrides the command for the
# worker, the scheduler and the one-shot migrate service.
CMD ["gunicorn", "sops_api.wsgi:application", "--config", "python:sops_api.gunicorn_conf", \
     "--bind", "0.0.0.0:8000"]
