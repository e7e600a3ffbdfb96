"""gunicorn settings for the Docker image, the same as ``lsagent serve`` uses:
``gunicorn -c python:ml_backend.service.gunicorn_conf ml_backend.service.wsgi:app``."""

from ml_backend.service.server import gunicorn_options
from ml_backend.settings import Settings

_settings = Settings.from_env()
globals().update(gunicorn_options(_settings, "0.0.0.0", _settings.port))
