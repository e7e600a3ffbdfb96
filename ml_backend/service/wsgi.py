"""The WSGI entry point gunicorn imports in the Docker image: ``gunicorn ml_backend.service.wsgi:app``."""

from ml_backend.service.app import configure_logging, create_app
from ml_backend.settings import Settings

settings = Settings.from_env()
configure_logging(settings)
app = create_app(settings)
