"""WSGI entry point for any server: ``waitress-serve wsgi:app`` or ``gunicorn wsgi:app``."""
from campaigner import create_app

app = create_app()
