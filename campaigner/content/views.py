from flask import Blueprint

from campaigner.web import render_page

bp = Blueprint("content", __name__, url_prefix="/content")


@bp.route("/")
def index():
    return render_page("placeholder.html", title="content")
