"""Forms of the audience pages."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional


class ContactForm(FlaskForm):
    name = StringField(_l("Name"), validators=[Optional(), Length(max=255)])
    external_id = StringField(_l("External id"), validators=[Optional(), Length(max=255)])
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=40)])
    email = StringField(_l("Email"), validators=[Optional(), Length(max=254)])
    chat_id = StringField(_l("Chat id"), validators=[Optional(), Length(max=255)])
    openid = StringField(_l("Mini-program openid"), validators=[Optional(), Length(max=255)])
    timezone = StringField(_l("Time zone"), validators=[Optional(), Length(max=64)])
    attributes = TextAreaField(_l("Attributes"), validators=[Optional(), Length(max=20000)])
    tags = StringField(_l("Tags"), validators=[Optional(), Length(max=2000)])


class TagForm(FlaskForm):
    key = StringField(_l("Tag"), validators=[DataRequired(), Length(max=200)])


class TagGroupForm(FlaskForm):
    name = StringField(_l("Group name"), validators=[DataRequired(), Length(max=100)])
    description = StringField(_l("Description"), validators=[Optional(), Length(max=500)])


class SegmentForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    expression = TextAreaField(_l("Audience expression"), validators=[Optional(), Length(max=5000)])
    channel = SelectField(_l("Only contacts reachable on"), choices=[], validate_choice=False)
    description = StringField(_l("Description"), validators=[Optional(), Length(max=500)])


class UploadForm(FlaskForm):
    file = FileField(_l("CSV file"), validators=[FileRequired()])
    kind = SelectField(_l("It holds"), choices=[SelectChoice("contacts", _l("Contacts")),
                                                SelectChoice("orders", _l("Orders"))])
    encoding = SelectField(_l("Encoding"), choices=[SelectChoice("auto", _l("Detect (UTF-8, UTF-8 with BOM, GBK)")),
                                                   SelectChoice("utf-8", "UTF-8"), SelectChoice("gbk", "GBK")])


class RunImportForm(FlaskForm):
    skip_bad_rows = BooleanField(_l("Skip bad rows (import only the good ones)"))
    strict = BooleanField(_l("Refuse a row with any bad value (otherwise a bad phone or email is left out "
                             "and the row kept when another identifier names the contact)"))


class ThresholdsForm(FlaskForm):
    recency_days = StringField(_l("Recent: last order fewer than this many days ago"), validators=[Optional()])
    frequency = StringField(_l("Frequent: more than this many orders"), validators=[Optional()])
    monetary = StringField(_l("High spend: more than this amount in total"), validators=[Optional()])
