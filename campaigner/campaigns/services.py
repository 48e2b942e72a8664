"""Campaigns: create, schedule, pause, resume, cancel, dry-run and count them. No Flask here.

Times: `send_at` is stored as naive UTC. A caller passes an aware datetime (any
zone) or naive UTC; `local_to_utc` turns a wall-clock time in a named zone into
UTC with the zone's rules of that date, so a campaign set for 09:00 in
New York leaves at 09:00 there in summer and in winter.

A recurring campaign (`cron`, read in the campaign's time zone) is a template:
each time it fires, `spawn_run` creates a run — a campaign of its own with
`parent` set — so every run has its own deliveries and stats.
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import peewee
from peewee import SQL, fn

from campaigner.audit import record_audit, says
from campaigner.campaigns.models import Campaign
from campaigner.content.models import ContentItem
from campaigner.db import database, utcnow, write_transaction
from campaigner.deliveries import engine, policy
from campaigner.deliveries.models import Delivery, DeliveryClaim

MESSAGES = {
    "name_required": "A campaign needs a name.",
    "content_missing": "Choose a content item.",
    "content_not_approved": "The content must be approved before the campaign is scheduled.",
    "channels_required": "Choose at least one channel.",
    "unknown_channel": "No installed plugin provides the channel {channel}.",
    "bad_audience": "The audience expression is not valid: {error}",
    "bad_timezone": "Unknown time zone: {timezone}.",
    "bad_cron": "Not a valid cron expression: {cron}.",
    "bad_throttle": "The throttle must be a whole number of messages a minute, at least 1.",
    "bad_caps": "Caps must be whole numbers of messages (0 for no cap).",
    "bad_quiet_hours": "Quiet hours need a start and an end as HH:MM.",
    "bad_status": "A {status} campaign can't be {action}.",
    "past_send_time": "The send time has passed; choose a time in the future or send now.",
}


class CampaignError(ValueError):
    """A campaign can't be made or changed like that; `code` names the rule, the message says it in English."""

    def __init__(self, code: str, **params):
        self.code, self.params = code, params
        super().__init__(MESSAGES[code].format(**params))


# ---------------------------------------------------------------- time


def to_utc(value: dt.datetime | None) -> dt.datetime | None:
    """An aware datetime (any zone) or a naive UTC one, as naive UTC."""
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(dt.timezone.utc).replace(tzinfo=None)


def local_to_utc(local: dt.datetime, timezone: str) -> dt.datetime:
    """A wall-clock time in `timezone` as naive UTC (the zone's offset of that date, DST included)."""
    return to_utc(local.replace(tzinfo=_zone(timezone)))


def utc_to_local(value: dt.datetime, timezone: str) -> dt.datetime:
    """A naive UTC time as an aware time in `timezone`."""
    return value.replace(tzinfo=dt.timezone.utc).astimezone(_zone(timezone))


def _(text: str) -> str:
    """Mark a message for translation; the page translates it when it shows the audit entry."""
    return text


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CampaignError("bad_timezone", timezone=name) from None


def next_cron_time(cron: str, timezone: str, after: dt.datetime) -> dt.datetime:
    """The first time after `after` (naive UTC) that `cron`, read in `timezone`, fires; naive UTC."""
    from croniter import croniter

    start = utc_to_local(after, timezone)
    return to_utc(croniter(cron, start).get_next(dt.datetime))


# ---------------------------------------------------------------- validation


MAX_THROTTLE = 1_000_000  # messages a minute


def _clean(*, name, content, channels, audience, segment, timezone, cron, throttle_per_minute, caps,
           quiet_hours) -> dict:
    from campaigner.audience.expressions import ExpressionError, parse_expression
    from campaigner.runtime import current_runtime

    name = (name or "").strip()
    if not name:
        raise CampaignError("name_required")
    if content is not None and not isinstance(content, ContentItem):
        content = ContentItem.get_or_none(ContentItem.id == content)
    if content is None:
        raise CampaignError("content_missing")
    channels = [c.strip() for c in (channels or []) if c and c.strip()]
    channels = list(dict.fromkeys(channels))
    if not channels:
        raise CampaignError("channels_required")
    plugins = current_runtime().plugins
    for channel in channels:
        if plugins.channel(channel) is None:
            raise CampaignError("unknown_channel", channel=channel)
    audience = (audience or "").strip()
    if segment is not None and not hasattr(segment, "expression"):
        from campaigner.audience.models import Segment

        segment = Segment.get_or_none(Segment.id == segment)
    if not segment:
        try:
            parse_expression(audience)
        except ExpressionError as exc:
            raise CampaignError("bad_audience", error=str(exc)) from None
    if timezone:
        _zone(timezone)
    cron = (cron or "").strip() or None
    if cron:
        from croniter import croniter

        if not croniter.is_valid(cron):
            raise CampaignError("bad_cron", cron=cron)
    if throttle_per_minute in ("", None):
        throttle_per_minute = None
    else:
        try:
            throttle_per_minute = int(throttle_per_minute)
        except (TypeError, ValueError):
            raise CampaignError("bad_throttle") from None
        if not 1 <= throttle_per_minute <= MAX_THROTTLE:  # beyond it a 64-bit column overflows
            raise CampaignError("bad_throttle")
    if caps:
        try:
            caps = {k: (int(v) if v not in (None, "") else None) for k, v in caps.items() if k in ("day", "week")}
        except (TypeError, ValueError):
            raise CampaignError("bad_caps") from None
        if any(v is not None and v < 0 for v in caps.values()):
            raise CampaignError("bad_caps")
    if quiet_hours:
        quiet_hours = dict(quiet_hours)
        if quiet_hours.get("enabled") is not False:
            try:
                for key in ("start", "end"):
                    quiet_hours[key] = policy.parse_hhmm(quiet_hours[key]).strftime("%H:%M")
            except (KeyError, ValueError):
                raise CampaignError("bad_quiet_hours") from None
    return dict(name=name, content=content, channels=channels, audience=audience, segment=segment or None,
                timezone=timezone or None, cron=cron, throttle_per_minute=throttle_per_minute, caps=caps or None,
                quiet_hours=quiet_hours or None)


# ---------------------------------------------------------------- lifecycle


def create_campaign(*, name, content, channels, audience="", send_at=None, timezone=None, cron=None,
                    throttle_per_minute=None, caps=None, quiet_hours=None, created_by=None, origin=None,
                    segment=None) -> Campaign:
    """A draft campaign; `send_at` is aware or naive UTC (None: send when scheduled)."""
    fields = _clean(name=name, content=content, channels=channels, audience=audience, segment=segment,
                    timezone=timezone, cron=cron, throttle_per_minute=throttle_per_minute, caps=caps,
                    quiet_hours=quiet_hours)
    campaign = Campaign.create(**fields, send_at=to_utc(send_at), origin=origin, created_by=created_by,
                               status="draft")
    record_audit(created_by, "created", campaign, summary=campaign.name)
    return campaign


def update_campaign(campaign: Campaign, user=None, **changes) -> Campaign:
    """Change a campaign that has not started (draft or scheduled); a scheduled one keeps its place."""
    _require(campaign, ("draft", "scheduled"), "changed")
    current = {k: getattr(campaign, k) for k in ("name", "channels", "audience", "timezone", "cron",
                                                 "throttle_per_minute", "caps", "quiet_hours")}
    current["content"] = campaign.content
    current["segment"] = campaign.segment
    current.update({k: v for k, v in changes.items() if k in current})
    fields = _clean(**current)
    for key, value in fields.items():
        setattr(campaign, key, value)
    if "send_at" in changes:
        campaign.send_at = to_utc(changes["send_at"])
    campaign.updated_at = utcnow()
    campaign.save()
    record_audit(user, "changed", campaign, summary=", ".join(sorted(changes)))
    if campaign.status == "scheduled":
        if not campaign.content.is_sendable:
            raise CampaignError("content_not_approved")
        _arm(campaign)
    return campaign


def _require(campaign: Campaign, statuses: tuple, action: str) -> None:
    campaign_status = Campaign.select(Campaign.status).where(Campaign.id == campaign.id).scalar()
    campaign.status = campaign_status
    if campaign_status not in statuses:
        raise CampaignError("bad_status", status=campaign_status, action=action)


def _arm(campaign: Campaign) -> None:
    """Enqueue the eta task that starts the campaign (the sweeper is the safety net)."""
    from campaigner.deliveries.tasks import enqueue_dispatch

    enqueue_dispatch(campaign.id, campaign.send_at)


def schedule_campaign(campaign: Campaign, user=None) -> Campaign:
    """draft -> scheduled: it starts at `send_at` (now when unset, the next cron time when recurring)."""
    _require(campaign, ("draft",), "scheduled")
    content = ContentItem.get_by_id(campaign.content_id)
    if not content.is_sendable:
        raise CampaignError("content_not_approved")
    now = utcnow()
    if campaign.cron:
        campaign.send_at = next_cron_time(campaign.cron, campaign.timezone or engine.instance_timezone(), now)
    elif campaign.send_at is None:
        campaign.send_at = now
    (Campaign.update(status="scheduled", send_at=campaign.send_at, status_reason="", updated_at=now)
     .where(Campaign.id == campaign.id, Campaign.status == "draft").execute())
    campaign.status = "scheduled"
    record_audit(user, "scheduled", campaign, summary=f"{campaign.name} at {campaign.send_at:%Y-%m-%d %H:%M} UTC",
                 details=says(_("%(name)s at %(at)s"), name=campaign.name, at=campaign.send_at.isoformat()))
    _arm(campaign)
    return campaign


def pause_campaign(campaign: Campaign, user=None, reason: str = "") -> Campaign:
    """Stop sending: messages already handed to a channel finish, each batch stops before its next group."""
    _require(campaign, ("scheduled", "running"), "paused")
    engine.pause(campaign.id, reason or "paused by ops")
    campaign.status, campaign.status_reason = "paused", reason or "paused by ops"
    record_audit(user, "paused", campaign, summary=reason or campaign.name)
    return campaign


def resume_campaign(campaign: Campaign, user=None) -> Campaign:
    """Go on where it stopped: a started campaign sends what is left, one not yet started waits for its time."""
    _require(campaign, ("paused",), "resumed")
    campaign = Campaign.get_by_id(campaign.id)
    if not ContentItem.get_by_id(campaign.content_id).is_sendable:
        raise CampaignError("content_not_approved")
    now = utcnow()
    status = "running" if campaign.started_at else "scheduled"
    (Campaign.update(status=status, status_reason="", consecutive_errors=0, updated_at=now)
     .where(Campaign.id == campaign.id, Campaign.status == "paused").execute())
    campaign.status, campaign.status_reason = status, ""
    record_audit(user, "resumed", campaign, summary=campaign.name)
    if status == "running":
        from campaigner.deliveries.tasks import enqueue_pumps

        enqueue_pumps(campaign.id)
    else:
        _arm(campaign)
    return campaign


def cancel_campaign(campaign: Campaign, user=None) -> Campaign:
    """Stop for good: every delivery not yet handed to a channel is cancelled; a recurring one makes no more runs."""
    _require(campaign, ("draft", "scheduled", "running", "paused"), "cancelled")
    now = utcnow()
    ids = [campaign.id] + [r.id for r in Campaign.select(Campaign.id).where(
        Campaign.parent == campaign.id, Campaign.status.in_(("draft", "scheduled", "running", "paused")))]
    with write_transaction():
        (Campaign.update(status="cancelled", updated_at=now, completed_at=now)
         .where(Campaign.id.in_(ids), Campaign.status.in_(("draft", "scheduled", "running", "paused"))).execute())
        for campaign_id in ids:
            engine.cancel_pending(campaign_id, now)
    campaign.status = "cancelled"
    record_audit(user, "cancelled", campaign, summary=campaign.name)
    return campaign


def reschedule_campaign(campaign: Campaign, send_at, user=None) -> Campaign:
    """Move a campaign that has not started to another time (aware, or naive UTC)."""
    _require(campaign, ("draft", "scheduled", "paused"), "rescheduled")
    campaign = Campaign.get_by_id(campaign.id)
    if campaign.started_at:
        raise CampaignError("bad_status", status="running", action="rescheduled")
    campaign.send_at = to_utc(send_at)
    campaign.updated_at = utcnow()
    campaign.save(only=[Campaign.send_at, Campaign.updated_at])
    record_audit(user, "rescheduled", campaign, summary=f"{campaign.send_at:%Y-%m-%d %H:%M} UTC",
                 details=says(_("to %(at)s"), at=campaign.send_at.isoformat()))
    if campaign.status == "scheduled":
        _arm(campaign)
    return campaign


def spawn_run(parent: Campaign, now: dt.datetime | None = None) -> Campaign | None:
    """Start this firing of a recurring campaign as a run of its own; None when another worker already did."""
    now = now or utcnow()
    fire_at = parent.send_at
    if fire_at is None or fire_at > now + dt.timedelta(seconds=1):
        return None
    following = next_cron_time(parent.cron, parent.timezone or engine.instance_timezone(), max(fire_at, now))
    with write_transaction():
        # Compare-and-set on send_at: of two workers seeing the same firing, one wins.
        moved = (Campaign.update(send_at=following, updated_at=now)
                 .where(Campaign.id == parent.id, Campaign.status == "scheduled", Campaign.send_at == fire_at)
                 .execute())
        if not moved:
            return None
        local = utc_to_local(fire_at, parent.timezone or engine.instance_timezone())
        run = Campaign.create(name=f"{parent.name} · {local:%Y-%m-%d %H:%M}", content=parent.content_id,
                              channels=parent.channels, audience=parent.audience, segment=parent.segment_id,
                              send_at=fire_at, timezone=parent.timezone, throttle_per_minute=parent.throttle_per_minute,
                              caps=parent.caps, quiet_hours=parent.quiet_hours, origin=parent.origin, parent=parent.id,
                              created_by=parent.created_by_id, status="running", started_at=now)
    parent.send_at = following
    return run


# ---------------------------------------------------------------- looking


def campaign_stats(campaign: Campaign) -> dict:
    """targeted, sent, failed, skipped (by reason), deferred, unknown, queued, retrying (and next_retry_at),
    sending, cancelled, progress (0-100)."""
    ids = [campaign.id]
    if campaign.cron and campaign.parent_id is None:
        ids += [r for (r,) in Campaign.select(Campaign.id).where(Campaign.parent == campaign.id).tuples()]
    counts = {s: 0 for s in ("sent", "failed", "skipped", "deferred", "unknown", "queued", "sending", "cancelled")}
    by_reason: dict[str, int] = {}
    # Counted from the (source, status, id) index alone; reasons are read only for the skipped rows.
    # The progress bar asks every 2 s while a campaign runs.
    source = (Delivery.source_type == engine.SOURCE) & Delivery.source_id.in_(ids)
    for status, count in (Delivery.select(Delivery.status, fn.COUNT(SQL("*"))).where(source)
                          .group_by(Delivery.status).tuples()):
        counts[status] = counts.get(status, 0) + count
    # Claimed rows keep their waiting status (engine.claim); their claims say how many are in flight.
    for size, deferred in (DeliveryClaim.select(DeliveryClaim.size, DeliveryClaim.deferred)
                           .where(DeliveryClaim.source_type == engine.SOURCE, DeliveryClaim.source_id.in_(ids))
                           .tuples()):
        counts["queued"] -= size - deferred
        counts["deferred"] -= deferred
        counts["sending"] += size
    # Queued rows that were tried before and wait for their next attempt (not claimed by a batch now).
    counts["retrying"], next_retry_at = 0, None
    if counts["queued"]:
        retrying, next_retry_at = (Delivery.select(fn.COUNT(SQL("*")), fn.MIN(Delivery.send_after))
                                   .where(source, Delivery.status == "queued", Delivery.attempts > 0,
                                          Delivery.lease_token.is_null()).tuples().get())
        counts["retrying"] = retrying or 0
        counts["queued"] -= counts["retrying"]
        next_retry_at = engine._as_datetime(next_retry_at) if retrying else None
    if counts["skipped"]:
        for reason, count in (Delivery.select(Delivery.reason, fn.COUNT(SQL("*")))
                              .where(source, Delivery.status == "skipped").group_by(Delivery.reason).tuples()):
            by_reason[reason or "unknown"] = by_reason.get(reason or "unknown", 0) + count
    targeted = sum(counts.values())
    final = sum(counts[s] for s in ("sent", "failed", "skipped", "unknown", "cancelled"))
    return {**counts, "targeted": targeted, "skipped_by_reason": by_reason, "final": final, "next_retry_at": next_retry_at,
            "progress": round(100 * final / targeted, 1) if targeted else (100.0 if campaign.status == "completed" else 0.0),
            "done": campaign.status in ("completed", "cancelled") or (targeted > 0 and final == targeted)}


def dry_run(campaign: Campaign, limit: int = 50) -> dict:
    """Who would get what, on which channel, and who would be skipped and why — nothing is written or sent.

    Counts cover the whole audience (channel choice, opt-outs, missing
    addresses, caps, quiet hours at the planned time); `sample` shows the first
    `limit` contacts with the message each would get.
    """
    from campaigner.audience.models import Contact
    from campaigner.campaigns.targeting import audience_query

    at = campaign.send_at if campaign.send_at and campaign.send_at > utcnow() else utcnow()
    eng = policy.engine_settings()
    try:
        channel_expr, status_expr, reason_expr = engine.reachability(list(campaign.channels))
        audience = audience_query(campaign)
    except engine.EngineError as exc:
        return {"error": str(exc), "targeted": 0, "by_channel": {}, "skipped": {}, "sample": [], "at": at}
    plan = (Contact.select(Contact.id.alias("contact_id"), channel_expr.alias("channel"),
                           status_expr.alias("status"), reason_expr.alias("reason"),
                           Contact.timezone.alias("timezone"))
            .where(Contact.id.in_(audience)))
    summary = plan.alias("plan")
    by_channel: dict[str, int] = {}
    skipped: dict[str, int] = {}
    targeted = 0
    grouped = (peewee.Select(from_list=[summary], columns=[summary.c.channel, summary.c.status, summary.c.reason,
                                                         fn.COUNT(SQL("*"))])
               .group_by(summary.c.channel, summary.c.status, summary.c.reason).bind(database).tuples())
    for channel, status, reason, count in grouped:
        targeted += count
        if status == "queued":
            by_channel[channel] = by_channel.get(channel, 0) + count
        else:
            skipped[reason] = skipped.get(reason, 0) + count
    deferred: dict[str, int] = {}
    fallback_tz = engine.instance_timezone()
    for channel in list(by_channel):
        caps = policy.effective_caps(eng, campaign.caps, _platform_caps(channel))
        capped = _count_capped(summary, channel, caps, at)
        if capped:
            skipped["capped"] = skipped.get("capped", 0) + capped
            by_channel[channel] -= capped
        window = policy.effective_quiet_hours(eng, campaign.quiet_hours, channel)
        if window:
            zones = (peewee.Select(from_list=[summary], columns=[summary.c.timezone, fn.COUNT(SQL("*"))])
                     .where((summary.c.channel == channel) & (summary.c.status == "queued"))
                     .group_by(summary.c.timezone).bind(database).tuples())
            for tz, count in zones:
                if policy.quiet_until(at, policy.zone(tz, fallback_tz), window):
                    deferred[channel] = deferred.get(channel, 0) + count
    sample = _sample(campaign, plan.order_by(Contact.id).limit(limit), at, eng)
    return {"targeted": targeted, "by_channel": by_channel, "skipped": skipped, "deferred": deferred,
            "sample": sample, "at": at}


def _platform_caps(channel_name: str) -> dict:
    channel = engine.channel_for(channel_name)
    return getattr(channel.capabilities, "caps_per_contact", None) or {} if channel is not None else {}


def _count_capped(summary, channel: str, caps: dict, at: dt.datetime) -> int:
    conditions = []
    for key, days in policy.CAP_WINDOWS.items():
        if caps.get(key):
            over = (Delivery.select(Delivery.contact_id)
                    .where(Delivery.channel == channel, Delivery.marketing == True,  # noqa: E712
                           Delivery.status == "sent", Delivery.sent_at >= at - dt.timedelta(days=days))
                    .group_by(Delivery.contact_id).having(fn.COUNT(SQL("*")) >= caps[key]))
            conditions.append(summary.c.contact_id.in_(over))
    if not conditions:
        return 0
    import operator
    from functools import reduce

    return (peewee.Select(from_list=[summary], columns=[fn.COUNT(SQL("*"))])
            .where((summary.c.channel == channel) & (summary.c.status == "queued") & reduce(operator.or_, conditions))
            .bind(database).scalar() or 0)


def _sample(campaign: Campaign, plan, at: dt.datetime, eng: dict) -> list[dict]:
    from campaigner.audience.models import Contact

    rows = list(plan.tuples())
    contacts = {c.id: c for c in Contact.select().where(Contact.id.in_([r[0] for r in rows]))} if rows else {}
    content = ContentItem.get_by_id(campaign.content_id)
    fallback_tz = engine.instance_timezone()
    channels = {}
    out = []
    for contact_id, channel_name, status, reason, _tz in rows:
        contact = contacts[contact_id]
        item = {"contact_id": contact_id, "contact": str(contact), "channel": channel_name,
                "status": "would_send" if status == "queued" else "skipped", "reason": reason,
                "address": None, "preview": "", "until": None}
        if status == "queued":
            if channel_name not in channels:
                channels[channel_name] = engine.channel_for(channel_name)
            channel = channels[channel_name]
            item["address"] = channel.address(contact)
            caps = policy.effective_caps(eng, campaign.caps, _platform_caps(channel_name))
            sent = (Delivery.select(Delivery.sent_at)
                    .where(Delivery.contact == contact_id, Delivery.channel == channel_name,
                           Delivery.marketing == True, Delivery.status == "sent",  # noqa: E712
                           Delivery.sent_at >= at - dt.timedelta(days=30)).tuples())
            if policy.over_cap(caps, [engine._as_datetime(t) for (t,) in sent], at):
                item.update(status="skipped", reason="capped")
            window = policy.effective_quiet_hours(eng, campaign.quiet_hours, channel_name)
            until = policy.quiet_until(at, policy.zone(contact.timezone, fallback_tz), window) if window else None
            if until and item["status"] == "would_send":
                item.update(status="deferred", reason="quiet_hours", until=until)
            try:
                from campaigner.plugins import render_context

                message = channel.render(content, contact, render_context(
                    contact, channel_name, campaign_id=campaign.id, campaign=campaign, dry_run=True))
                item["preview"] = message.body
            except Exception as exc:  # noqa: BLE001 - shown to the editor as what would fail
                item.update(status="would_fail", reason=f"render failed: {type(exc).__name__}: {exc}")
        out.append(item)
    return out
