from flask_babel import lazy_gettext as _l, lazy_pgettext
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length, ValidationError

from campaigner.accounts.models import ROLES
from campaigner.accounts.services import MIN_PASSWORD_LENGTH
from campaigner.i18n import LOCALES
from campaigner.localtime import is_timezone


ROLE_LABELS = {"editor": lazy_pgettext("role", "editor"), "ops": lazy_pgettext("role", "ops"),
               "developer": lazy_pgettext("role", "developer"), "admin": lazy_pgettext("role", "admin")}


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Email()])
    password = PasswordField(_l("Password"), validators=[DataRequired()])


class ChangePasswordForm(FlaskForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired()])
    new = PasswordField(_l("New password"), validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH)])
    confirm = PasswordField(_l("Repeat the new password"),
                            validators=[DataRequired(), EqualTo("new", message=_l("The passwords differ."))])


def _known_zone(name) -> None:
    if name and not is_timezone(name):
        raise ValidationError(_l("Choose a time zone from the list."))


class PreferencesForm(FlaskForm):
    name = StringField(_l("Name"), validators=[Length(max=100)])
    locale = SelectField(_l("Language"), choices=[SelectChoice("", _l("As the browser says")),
                                                  *[SelectChoice(code, name) for code, name in LOCALES.items()]])
    # Choices set by the view: the instance's zone is named in the first.
    timezone = SelectField(_l("Time zone for times shown"), choices=[], validate_choice=False,
                           validators=[lambda form, field: _known_zone(field.data)])


class UserForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Email()])
    name = StringField(_l("Name"), validators=[Length(max=100)])
    role = SelectField(_l("Role"), choices=[SelectChoice(r, ROLE_LABELS[r]) for r in ROLES])


class TokenForm(FlaskForm):
    name = StringField(_l("Token name"), validators=[DataRequired(), Length(max=100)])
