"""The WSGI entry point for gunicorn: each worker process builds its own app (and Oso)."""
from service.api import create_app

app = create_app()
