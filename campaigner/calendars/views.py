from flask import Blueprint

from campaigner.web import render_page

bp = Blueprint("calendars", __name__, url_prefix="/calendars")


@bp.route("/")
def index():
    return render_page("placeholder.html", title="calendars")
