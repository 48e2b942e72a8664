from flask import Blueprint

from campaigner.web import render_page

bp = Blueprint("audience", __name__, url_prefix="/audience")


@bp.route("/")
def index():
    return render_page("placeholder.html", title="audience")
