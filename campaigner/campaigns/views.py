from flask import Blueprint

from campaigner.web import render_page

bp = Blueprint("campaigns", __name__, url_prefix="/campaigns")


@bp.route("/")
def index():
    return render_page("placeholder.html", title="campaigns")
