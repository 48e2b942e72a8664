from flask import Blueprint

from campaigner.web import render_page

bp = Blueprint("deliveries", __name__, url_prefix="/deliveries")


@bp.route("/")
def index():
    return render_page("placeholder.html", title="deliveries")
