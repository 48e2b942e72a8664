"""WSGI entry point for any server: ``waitress-serve wsgi:app`` or ``gunicorn wsgi:app``."""
import logging

from campaigner import create_app

app = create_app()

if not app.config["CAMPAIGNER"]["BASE_URL_SET"]:
    # Only `campaigner up`/`web` know where they listen; another server's address is unknown here.
    logging.getLogger("campaigner").warning(
        "CAMPAIGNER_BASE_URL is not set: links in messages point at %s; set it to the address readers reach",
        app.config["CAMPAIGNER"]["BASE_URL"])
