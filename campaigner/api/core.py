"""Core API endpoints: who am I."""
from flask import g, jsonify

from campaigner.api import bp
from campaigner.permissions import requires


@bp.route("/me")
@requires("account.self")
def me():
    """The user the token belongs to.
    ---
    get:
      summary: The token's user
      responses:
        200:
          description: The user
          content:
            application/json:
              schema:
                type: object
                properties:
                  id: {type: integer}
                  email: {type: string}
                  role: {type: string}
    """
    user = g.api_user
    return jsonify({"id": user.id, "email": user.email, "name": user.name, "role": user.role})
