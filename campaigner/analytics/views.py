from flask import Blueprint

from campaigner.web import render_page

bp = Blueprint("analytics", __name__, url_prefix="/analytics")


@bp.route("/")
def index():
    return render_page("placeholder.html", title="analytics")
