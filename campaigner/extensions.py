"""Flask extensions whose decorators views need at import time."""
from flask import current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address


def _client_key() -> str:
    # Limiter keeps its first app's key prefix; put the app's own in the key so
    # several apps (tests, several instances on one Redis) never share counts.
    return f"{current_app.config['RATELIMIT_KEY_PREFIX']}:{get_remote_address()}"


limiter = Limiter(key_func=_client_key, default_limits=[])
