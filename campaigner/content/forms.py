"""Forms of the content library, and the names of kinds and statuses people see."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import HiddenField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from campaigner.content.models import KINDS, STATUSES
from campaigner.content.services import SLUG, TITLE_MAX

KIND_LABELS = {
    "moments": _l("Moments post"),
    "community": _l("Community post"),
    "script": _l("Reply script"),
    "article": _l("Article"),
    "sms": _l("SMS"),
    "welcome": _l("Welcome message"),
}
STATUS_LABELS = {"draft": _l("Draft"), "approved": _l("Approved"), "archived": _l("Archived")}
assert set(KIND_LABELS) == set(KINDS) and set(STATUS_LABELS) == set(STATUSES)

VARIANT_PREFIX = "variant_"
SUBJECT_PREFIX = "subject_for_"  # a channel's own subject line, in its variant


class ContentForm(FlaskForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=TITLE_MAX)])
    subject = StringField(_l("Subject"), validators=[Length(max=TITLE_MAX)])
    slug = StringField(_l("Slug"), validators=[Optional(), Regexp(SLUG.pattern, message=_l(
        "A slug has lowercase letters, digits and dashes only (at most 120)."))])
    kind = SelectField(_l("Kind"), choices=[SelectChoice(k, KIND_LABELS[k]) for k in KINDS], default="article")
    tags = StringField(_l("Tags"), validators=[Length(max=1000)])
    body = TextAreaField(_l("Body (Markdown)"), render_kw={"rows": 14})
    version = HiddenField()

    def variant_fields(self):
        """The variant text areas, one per channel."""
        return [f for f in self if f.name.startswith(VARIANT_PREFIX)]

    def variants(self) -> dict[str, str]:
        return {f.name[len(VARIANT_PREFIX):]: f.data or "" for f in self.variant_fields()}

    def subject_fields(self):
        """The channels' own subject lines (channels whose messages have one)."""
        return [f for f in self if f.name.startswith(SUBJECT_PREFIX)]

    def subjects(self) -> dict[str, str]:
        return {f.name[len(SUBJECT_PREFIX):]: f.data or "" for f in self.subject_fields()}

    def content_data(self) -> dict:
        """The fields as `save_content` takes them."""
        return {"title": self.title.data, "subject": self.subject.data or "", "subjects": self.subjects(),
                "slug": self.slug.data or "", "kind": self.kind.data, "tags": self.tags.data or "",
                "body": self.body.data or "", "variants": self.variants()}


def content_form(channels: dict[str, str], subject_channels: dict[str, str] | None = None, **kwargs) -> ContentForm:
    """A ContentForm with a variant text area for each channel (name -> label), and a subject line for each
    channel whose messages have one (`subject_channels`, name -> label)."""

    class Form(ContentForm):
        """A fresh subclass per call, so the variant fields added below never leak into ContentForm."""

    for name, label in channels.items():
        setattr(Form, VARIANT_PREFIX + name,
                TextAreaField(_l("Variant for %(channel)s", channel=label), render_kw={"rows": 4}))
    for name, label in (subject_channels or {}).items():
        setattr(Form, SUBJECT_PREFIX + name,
                StringField(_l("Subject for %(channel)s", channel=label), validators=[Length(max=TITLE_MAX)]))
    return Form(**kwargs)


class MediaForm(FlaskForm):
    file = FileField(_l("Image"), validators=[FileRequired(message=_l("Choose an image file."))])
    content_id = HiddenField()


class FieldsForm(FlaskForm):
    fields = TextAreaField(_l("Attribute fields"), render_kw={"rows": 6})
