from flask import Blueprint

from campaigner.web import render_page

bp = Blueprint("links", __name__, url_prefix="/links")


@bp.route("/")
def index():
    return render_page("placeholder.html", title="links")
