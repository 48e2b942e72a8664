from flask import Blueprint

from campaigner.web import render_page

bp = Blueprint("plugins_ui", __name__, url_prefix="/plugins")


@bp.route("/")
def index():
    return render_page("placeholder.html", title="plugins_ui")
