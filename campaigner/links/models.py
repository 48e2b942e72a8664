"""Short links (短链), their clicks, and the conversions attributed to those clicks."""
from __future__ import annotations

import peewee

from campaigner.accounts.models import User
from campaigner.audience.models import Contact, Order
from campaigner.campaigns.models import Campaign
from campaigner.content.models import ContentItem
from campaigner.db import BaseModel, utcnow
from campaigner.deliveries.models import Delivery

# delivery: one contact's link in one message; campaign: shared by everyone a channel
# can't personalise for (a moments post, a group message); manual: made in the UI or API.
KINDS = ("delivery", "campaign", "manual")


class ShortLink(BaseModel):
    code = peewee.CharField(unique=True)  # secrets.token_urlsafe: unguessable, never reused
    target = peewee.TextField()  # where /s/<code> redirects, UTM parameters included
    kind = peewee.CharField(default="manual")
    label = peewee.CharField(default="")  # manual links: what it is for
    # Where it was sent from, copied from the delivery so analytics need no join through it.
    source_type = peewee.CharField(null=True)
    source_id = peewee.IntegerField(null=True)
    delivery = peewee.ForeignKeyField(Delivery, null=True, backref="+", on_delete="SET NULL")
    campaign = peewee.ForeignKeyField(Campaign, null=True, backref="+", on_delete="SET NULL")
    contact = peewee.ForeignKeyField(Contact, null=True, backref="+", on_delete="SET NULL")
    content = peewee.ForeignKeyField(ContentItem, null=True, backref="+", on_delete="SET NULL")
    channel = peewee.CharField(default="")
    original_url = peewee.TextField(default="")  # the link as written in the content, before UTM
    url_hash = peewee.CharField(null=True)  # of original_url: indexes stay small however long the URL
    expires_at = peewee.DateTimeField(null=True)  # UTC; None: never
    created_by = peewee.ForeignKeyField(User, null=True, backref="+", on_delete="SET NULL")
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "short_links"
        indexes = (
            # Re-rendering a message (a retry, the HTML part after the text part) finds its links again.
            (("delivery", "url_hash"), True),
            (("campaign", "channel", "kind"), False),
            (("source_type", "source_id"), False),
            (("kind", "created_at"), False),
        )

    def is_expired(self, now=None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or utcnow())

    def __str__(self) -> str:
        return self.label or self.code


# One shared link per (campaign, channel, URL) however many workers render it at once.
ShortLink.add_index(ShortLink.index(ShortLink.campaign, ShortLink.channel, ShortLink.url_hash, unique=True,
                                    name="short_links_campaign_url").where(ShortLink.kind == "campaign"))


class Click(BaseModel):
    """One request of /s/<code>. Written in batches off the request path (see clicks.py)."""

    link = peewee.ForeignKeyField(ShortLink, backref="clicks", on_delete="CASCADE")
    at = peewee.DateTimeField(default=utcnow)  # UTC
    contact = peewee.ForeignKeyField(Contact, null=True, backref="+", on_delete="SET NULL")
    # Who clicked, for unique counts: "c:<contact id>" where the link names the contact,
    # else "v:" + a keyed hash of address and user agent (no raw IP is kept).
    visitor = peewee.CharField()
    is_bot = peewee.BooleanField(default=False)
    user_agent = peewee.CharField(default="", max_length=300)
    # Tagging and the `clicked` event happen after the write; a claim token marks
    # a click taken for that work, so two workers never both handle it.
    process_token = peewee.CharField(null=True)

    class Meta:
        table_name = "clicks"
        indexes = (
            (("link", "visitor"), False),
            (("contact", "at"), False),
            (("at",), False),
            (("process_token",), False),
        )


class Conversion(BaseModel):
    """An order attributed to the last human click of its contact within the window before it."""

    order = peewee.ForeignKeyField(Order, unique=True, backref="+", on_delete="CASCADE")
    click = peewee.ForeignKeyField(Click, backref="+", on_delete="CASCADE")
    link = peewee.ForeignKeyField(ShortLink, backref="+", on_delete="CASCADE")
    contact = peewee.ForeignKeyField(Contact, backref="+", on_delete="CASCADE")
    source_type = peewee.CharField(null=True)
    source_id = peewee.IntegerField(null=True)
    campaign = peewee.ForeignKeyField(Campaign, null=True, backref="+", on_delete="SET NULL")
    channel = peewee.CharField(default="")
    amount = peewee.DecimalField(max_digits=14, decimal_places=2, default=0)
    at = peewee.DateTimeField()  # the order's time (UTC)

    class Meta:
        table_name = "conversions"
        indexes = (
            (("source_type", "source_id"), False),
            (("at",), False),
        )


MODELS = [ShortLink, Click, Conversion]
