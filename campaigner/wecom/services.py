"""WeCom customer contact, applied to Campaigner's model: staff, customers, who added whom, groups, tags.

Both the full sync and the inbound callbacks change the model only through these functions, so a
callback and a later sync agree and a second sync changes nothing. Each returns whether it changed
anything. Contact events (joined, left, joined_group, left_group) are recorded when ``announce`` is
true — callbacks, which report a change as it happens; a sync reconciles state and announces nothing.

A customer's WeCom identity (`WecomCustomer`) belongs to one contact: on first sight it joins the
contact with the same unionid (through another corp's identity), else the one with the same phone
(WeCom's remark_mobiles), else a new contact (external id ``wecom:<account>:<external_userid>``).
"""
from __future__ import annotations

import datetime as dt
import logging

from campaigner.audience.models import Contact, ContactTag, Tag, TagGroup
from campaigner.audience.importer import bulk_insert
from campaigner.audience.services import AudienceError, add_tags, find_contact, normalize_phone, remove_tags
from campaigner.db import database, utcnow
from campaigner.events.models import Event
from campaigner.events.services import record_event, record_events
from campaigner.wecom.models import ChatGroup, ContactOwner, GroupMember, Staff, WecomCustomer, WecomTag

log = logging.getLogger(__name__)

REMOVED_BY = ("staff", "customer", "transfer", "sync")  # sync: gone from WeCom, no callback said how
HEALTHY_GROUP_SIZE = (80, 300)  # members; the field's rule of thumb for a lively, manageable group


class WecomError(Exception):
    """A WeCom rule was broken (the domain's error; views map it to a 4xx)."""


def from_timestamp(value) -> dt.datetime | None:
    """A WeCom Unix timestamp as naive UTC."""
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        return None
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).replace(tzinfo=None) if seconds > 0 else None


def source_of(account: str) -> str:
    return f"wecom:{account}"


# ---------------------------------------------------------------- staff


def upsert_staff(account: str, userid: str, *, name: str | None = None, department=None,
                 active: bool | None = None) -> tuple[Staff, bool]:
    """The staff account `userid`, created when unknown (an event may name one before a sync did)."""
    staff = Staff.get_or_none(Staff.account == account, Staff.userid == userid)
    if staff is None:
        staff = Staff.create(account=account, userid=userid, name=name or userid, department=list(department or []),
                             active=True if active is None else active)
        return staff, True
    changes = {}
    if name is not None and name != staff.name:
        changes["name"] = name
    if department is not None and list(department) != list(staff.department or []):
        changes["department"] = list(department)
    if active is not None and active != staff.active:
        changes["active"] = active
    if changes:
        changes["updated_at"] = utcnow()
        Staff.update(**changes).where(Staff.id == staff.id).execute()
        for key, value in changes.items():
            setattr(staff, key, value)
    return staff, bool(changes)


def deactivate_missing_staff(account: str, present: set[str]) -> int:
    """Staff no longer in WeCom's follow-user list become inactive; return how many changed."""
    query = Staff.update(active=False, updated_at=utcnow()).where(Staff.account == account, Staff.active == True)  # noqa: E712
    if present:
        query = query.where(Staff.userid.not_in(sorted(present)))
    return query.execute()


# ---------------------------------------------------------------- customers


def _phone(mobiles) -> str | None:
    for raw in mobiles or ():
        try:
            return normalize_phone(str(raw))
        except AudienceError:
            continue
    return None


def customer_for(account: str, external_userid: str, *, name: str | None = None, unionid: str | None = None,
                 type: int | None = None, corp_name: str | None = None, mobiles=(),
                 details: bool = False) -> tuple[WecomCustomer, bool]:
    """The WeCom identity `external_userid`, created (and merged into a contact) on first sight; (row, changed).

    `details` says the values come from WeCom's contact details (a sync or a details fetch), not
    only a callback's ids: the identity then counts as complete.
    """
    customer = WecomCustomer.get_or_none(WecomCustomer.account == account,
                                         WecomCustomer.external_userid == external_userid)
    now = utcnow()
    if customer is None:
        contact = _matching_contact(unionid, _phone(mobiles))
        if contact is None:
            contact = Contact.create(name=name or "", external_id=f"wecom:{account}:{external_userid}",
                                     created_at=now, updated_at=now)
        customer = WecomCustomer.create(account=account, external_userid=external_userid, contact=contact,
                                        unionid=unionid or None, name=name or "", type=type or 1,
                                        corp_name=corp_name or "", details_at=now if details else None)
        return customer, True
    changes = {}
    for field_name, value in (("name", name), ("type", type), ("corp_name", corp_name)):
        if value is not None and value != getattr(customer, field_name):
            changes[field_name] = value
    if unionid and unionid != customer.unionid:
        changes["unionid"] = unionid
    if details and customer.details_at is None:
        changes["details_at"] = now
    if changes:
        changes["updated_at"] = now
        WecomCustomer.update(**changes).where(WecomCustomer.id == customer.id).execute()
        for key, value in changes.items():
            setattr(customer, key, value)
        if "unionid" in changes:
            _merge_by_unionid(customer)
        if changes.get("name"):
            Contact.update(name=changes["name"], updated_at=now).where(
                Contact.id == customer.contact_id, Contact.name == "").execute()
    return customer, bool(changes)


def _matching_contact(unionid: str | None, phone: str | None) -> Contact | None:
    if unionid:
        other = (WecomCustomer.select(WecomCustomer.contact).where(WecomCustomer.unionid == unionid)
                 .order_by(WecomCustomer.id).first())
        if other is not None:
            return Contact.get_by_id(other.contact_id)
    if phone:
        return find_contact(phone=phone)
    return None


def _merge_by_unionid(customer: WecomCustomer) -> None:
    """A unionid learnt late (after a callback) may name a contact we already have: move this identity to it.

    Only a contact that this identity created (external id ``wecom:…`` of its own) is folded into the
    other; its relationships, group stays and events move along, then it is deleted.
    """
    other = (WecomCustomer.select().where(WecomCustomer.unionid == customer.unionid, WecomCustomer.id != customer.id,
                                          WecomCustomer.contact != customer.contact_id)
             .order_by(WecomCustomer.id).first())
    own = f"wecom:{customer.account}:{customer.external_userid}"
    placeholder = Contact.get_or_none(Contact.id == customer.contact_id)
    if other is None or placeholder is None or placeholder.external_id != own:
        return
    target = other.contact_id
    with database.atomic():
        for model in (ContactOwner, GroupMember, Event):
            model.update(contact=target).where(model.contact == placeholder.id).execute()
        WecomCustomer.update(contact=target).where(WecomCustomer.contact == placeholder.id).execute()
        placeholder.delete_instance()
    customer.contact = target


def current_owner(contact_id: int, staff_id: int) -> ContactOwner | None:
    return (ContactOwner.select().where(ContactOwner.contact == contact_id, ContactOwner.staff == staff_id,
                                        ContactOwner.removed_at.is_null()).first())


def open_owner(customer: WecomCustomer, staff: Staff, *, added_at=None, add_way: int | None = None,
               state: str | None = None, remark: str | None = None, announce: bool = False,
               details: dict | None = None) -> bool:
    """Record that `staff` has `customer` (added now, or as the sync found it); return whether anything changed."""
    owner = current_owner(customer.contact_id, staff.id)
    now = utcnow()
    if owner is None:
        ContactOwner.create(contact=customer.contact_id, staff=staff.id, added_at=added_at or now,
                            add_way=add_way or 0, state=state or "", remark=remark or "", updated_at=now)
        if announce:
            record_event("joined", customer.contact_id, source=source_of(staff.account), at=added_at or now,
                         staff=staff.userid, details={"state": state or "", "add_way": add_way or 0,
                                                      "external_userid": customer.external_userid, **(details or {})})
        return True
    changes = {}
    for field_name, value in (("add_way", add_way), ("state", state), ("remark", remark)):
        if value is not None and value != getattr(owner, field_name):
            changes[field_name] = value
    if changes:
        changes["updated_at"] = now
        ContactOwner.update(**changes).where(ContactOwner.id == owner.id).execute()
    return bool(changes)


def close_owner(customer: WecomCustomer, staff: Staff, *, removed_by: str, at=None, announce: bool = True) -> bool:
    """End the relationship (`removed_by`: staff, customer — churn — or transfer); False when there was none."""
    if removed_by not in REMOVED_BY:
        raise WecomError(f"removed_by is one of {', '.join(REMOVED_BY)}")
    at = at or utcnow()
    closed = (ContactOwner.update(removed_at=at, removed_by=removed_by, updated_at=utcnow())
              .where(ContactOwner.contact == customer.contact_id, ContactOwner.staff == staff.id,
                     ContactOwner.removed_at.is_null()).execute())
    if closed and announce:
        record_event("left", customer.contact_id, source=source_of(staff.account), at=at, staff=staff.userid,
                     details={"removed_by": removed_by, "external_userid": customer.external_userid})
    return bool(closed)


# ---------------------------------------------------------------- groups


def _member_identity(account: str, member_id: str, member_type: int | None):
    """(member_type, contact id) of a group member: a staff account, a customer we know, or an unknown external."""
    if member_type == 1 or (member_type is None and Staff.select().where(
            Staff.account == account, Staff.userid == member_id).exists()):
        return "staff", None
    customer = WecomCustomer.get_or_none(WecomCustomer.account == account, WecomCustomer.external_userid == member_id)
    if customer is not None:
        return "customer", customer.contact_id
    return "unknown", None


def join_group(group: ChatGroup, member_id: str, *, member_type: int | None = None, joined_at=None,
               join_scene: int = 0, name: str = "", announce: bool = False) -> bool:
    """Add a member to a group unless already in it; return whether it was added."""
    present = GroupMember.select().where(GroupMember.group == group.id, GroupMember.member_id == member_id,
                                         GroupMember.left_at.is_null()).exists()
    if present:
        return False
    kind, contact_id = _member_identity(group.account, member_id, member_type)
    at = joined_at or utcnow()
    GroupMember.create(group=group.id, member_id=member_id, member_type=kind, contact=contact_id, name=name or "",
                       joined_at=at, join_scene=join_scene or 0)
    if announce and contact_id:
        record_event("joined_group", contact_id, source=source_of(group.account), at=at, group=group.chat_id,
                     details={"join_scene": join_scene or 0, "group_name": group.name})
    return True


def leave_group(group: ChatGroup, member_id: str, *, at=None, announce: bool = False, quit_scene: int = 0) -> bool:
    """Mark a member as gone from a group; False when it was not in it."""
    at = at or utcnow()
    member = (GroupMember.select().where(GroupMember.group == group.id, GroupMember.member_id == member_id,
                                         GroupMember.left_at.is_null()).first())
    if member is None:
        return False
    GroupMember.update(left_at=at).where(GroupMember.id == member.id).execute()
    if announce and member.contact_id:
        record_event("left_group", member.contact_id, source=source_of(group.account), at=at, group=group.chat_id,
                     details={"quit_scene": quit_scene, "group_name": group.name})
    return True


def refresh_member_count(group: ChatGroup) -> None:
    count = GroupMember.select().where(GroupMember.group == group.id, GroupMember.left_at.is_null()).count()
    if count != group.member_count:
        ChatGroup.update(member_count=count).where(ChatGroup.id == group.id).execute()
        group.member_count = count


def apply_group(account: str, detail: dict, *, announce: bool = False, at=None) -> bool:
    """Make a group match WeCom's ``groupchat/get`` detail (name, owner, notice, members); return whether it changed."""
    chat_id = detail["chat_id"]
    owner = upsert_staff(account, detail["owner"])[0] if detail.get("owner") else None
    group = ChatGroup.get_or_none(ChatGroup.account == account, ChatGroup.chat_id == chat_id)
    changed = False
    values = {"name": detail.get("name") or "", "owner": owner.id if owner else None,
              "notice": detail.get("notice") or "", "created_at": from_timestamp(detail.get("create_time"))}
    if group is None:
        group = ChatGroup.create(account=account, chat_id=chat_id, **values)
        changed = True
    else:
        changes = {k: v for k, v in values.items()
                   if (getattr(group, "owner_id") if k == "owner" else getattr(group, k)) != v}
        if group.dismissed_at is not None:
            changes["dismissed_at"] = None
        if changes:
            changes["updated_at"] = utcnow()
            ChatGroup.update(**changes).where(ChatGroup.id == group.id).execute()
            group = ChatGroup.get_by_id(group.id)
            changed = True
    wanted = {m["userid"]: m for m in detail.get("member_list") or []}
    present = {m.member_id for m in GroupMember.select(GroupMember.member_id)
               .where(GroupMember.group == group.id, GroupMember.left_at.is_null())}
    for member_id, member in wanted.items():
        if member_id not in present:
            changed |= join_group(group, member_id, member_type=member.get("type"),
                                  joined_at=from_timestamp(member.get("join_time")),
                                  join_scene=member.get("join_scene") or 0, name=member.get("name") or "",
                                  announce=announce)
    for member_id in present - set(wanted):
        changed |= leave_group(group, member_id, at=at, announce=announce)
    refresh_member_count(group)
    return changed


def dismiss_group(account: str, chat_id: str, *, at=None) -> bool:
    """The group was dismissed: it and its members' stays end (no left_group events: nobody left)."""
    at = at or utcnow()
    group = ChatGroup.get_or_none(ChatGroup.account == account, ChatGroup.chat_id == chat_id)
    if group is None or group.dismissed_at is not None:
        return False
    with database.atomic():
        ChatGroup.update(dismissed_at=at, member_count=0, updated_at=utcnow()).where(ChatGroup.id == group.id).execute()
        GroupMember.update(left_at=at).where(GroupMember.group == group.id, GroupMember.left_at.is_null()).execute()
    return True


def close_missing_owners(account: str, userids: list[str], seen: set[tuple[int, int]]) -> int:
    """End the current relationships of these staff accounts that WeCom did not list; return how many."""
    now = utcnow()
    closed = 0
    staff_ids = [i for (i,) in Staff.select(Staff.id).where(Staff.account == account, Staff.userid.in_(userids)).tuples()]
    for owner_id, contact_id, staff_id in (ContactOwner.select(ContactOwner.id, ContactOwner.contact, ContactOwner.staff)
                                           .where(ContactOwner.staff.in_(staff_ids), ContactOwner.removed_at.is_null())
                                           .tuples()):
        if (contact_id, staff_id) not in seen:
            closed += ContactOwner.update(removed_at=now, removed_by="sync", updated_at=now).where(
                ContactOwner.id == owner_id, ContactOwner.removed_at.is_null()).execute()
    return closed


def dismiss_missing_groups(account: str, seen: set[str]) -> int:
    """Groups of the account that WeCom no longer lists are dismissed; return how many."""
    gone = [chat_id for (chat_id,) in ChatGroup.select(ChatGroup.chat_id)
            .where(ChatGroup.account == account, ChatGroup.dismissed_at.is_null()).tuples() if chat_id not in seen]
    return sum(dismiss_group(account, chat_id) for chat_id in gone)


def group_health(group: ChatGroup) -> str | None:
    """"small" or "large" when the group is outside the healthy size, else None."""
    low, high = HEALTHY_GROUP_SIZE
    if group.dismissed_at is not None:
        return None
    if group.member_count < low:
        return "small"
    if group.member_count > high:
        return "large"
    return None


# ---------------------------------------------------------------- corp tags


def apply_corp_tags(account: str, tag_groups: list[dict], mapped: tuple[str, ...]) -> int:
    """Link WeCom's corp tags in the mapped tag groups to local tags ``<group>:<tag>``; return how many changed."""
    changed = 0
    for wecom_group in tag_groups:
        name = wecom_group.get("group_name") or ""
        if name not in mapped or wecom_group.get("deleted"):
            continue
        group, created = TagGroup.get_or_create(name=name)
        changed += created
        for tag in wecom_group.get("tag") or []:
            if tag.get("deleted"):
                continue
            key = f"{name}:{tag['name']}"
            local = Tag.get_or_none(Tag.key == key)
            if local is None:
                local = Tag.create(group=group, name=tag["name"], key=key)
                changed += 1
            link = WecomTag.get_or_none(WecomTag.account == account, WecomTag.wecom_id == tag["id"])
            if link is None:
                WecomTag.create(account=account, wecom_id=tag["id"], wecom_group_id=wecom_group.get("group_id", ""),
                                tag=local)
                changed += 1
            elif link.tag_id != local.id:
                WecomTag.update(tag=local).where(WecomTag.id == link.id).execute()
                changed += 1
    return changed


def tag_links(account: str) -> dict[str, int]:
    """WeCom tag id -> local tag id, for the account's mapped tag groups."""
    return dict(WecomTag.select(WecomTag.wecom_id, WecomTag.tag).where(WecomTag.account == account).tuples())


def apply_customer_tags(account: str, customer: WecomCustomer, tag_ids, links: dict[str, int] | None = None) -> bool:
    """Make the contact's local tags of mapped WeCom tag groups match WeCom's tag ids for it (`links`: `tag_links`)."""
    links = tag_links(account) if links is None else links
    if not links:
        return False
    wanted = {links[t] for t in tag_ids or () if t in links}
    have = {tag_id for (tag_id,) in ContactTag.select(ContactTag.tag)
            .where(ContactTag.contact == customer.contact_id, ContactTag.tag.in_(list(set(links.values())))).tuples()}
    if wanted == have:
        return False
    keys = dict(Tag.select(Tag.id, Tag.key).where(Tag.id.in_(list(wanted | have))).tuples())
    source = source_of(account)
    added = add_tags(customer.contact_id, [keys[t] for t in wanted - have], source=source)
    removed = remove_tags(customer.contact_id, [keys[t] for t in have - wanted], source=source)
    return bool(added or removed)


def wecom_tag_changes(contact_id: int, account: str, added: list[str], removed: list[str]) -> tuple[list, list]:
    """The WeCom tag ids to add and remove for local tag keys changed on a contact (the other way of the sync)."""
    links = {key: wecom_id for wecom_id, key in WecomTag.select(WecomTag.wecom_id, Tag.key).join(Tag)
             .where(WecomTag.account == account).tuples()}
    return [links[k] for k in added if k in links], [links[k] for k in removed if k in links]


def identity_of(contact) -> dict | None:
    """A contact's WeCom identity for sending: {account, external_userid, staff} (its newest current owner), or None."""
    contact_id = getattr(contact, "id", contact)
    if not contact_id:
        return None
    row = (ContactOwner.select(ContactOwner, Staff, WecomCustomer.external_userid)
           .join(Staff).switch(ContactOwner)
           .join(WecomCustomer, on=((WecomCustomer.contact == ContactOwner.contact) & (WecomCustomer.account == Staff.account)))
           .where(ContactOwner.contact == contact_id, ContactOwner.removed_at.is_null())
           .order_by(ContactOwner.added_at.desc()).objects().first())
    if row is None:
        return None
    return {"account": row.staff.account, "external_userid": row.external_userid, "staff": row.staff.userid}


def _chunked(items: list, size: int = 500):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def open_owners_from_callbacks(account: str, adds: list[dict]) -> int:
    """The bulk form of a run of add_external_contact callbacks: staff, identities, relationships, ``joined`` events.

    `adds` are dicts with userid, external_userid, at, state, welcome_code, half — in arrival order,
    none preceded by a removal in the same run (the caller sends only a leading run of adds), so the
    outcome is what `open_owner` one by one would give. A few statements per 500 callbacks instead
    of several per callback: a burst of new customers (a live code on a poster) keeps up.
    """
    if not adds:
        return 0
    now = utcnow()
    userids = sorted({a["userid"] for a in adds})
    staff = {}
    for chunk in _chunked(userids):
        staff.update(Staff.select(Staff.userid, Staff.id).where(Staff.account == account, Staff.userid.in_(chunk)).tuples())
    missing = [u for u in userids if u not in staff]
    if missing:
        Staff.insert_many([{"account": account, "userid": u, "name": u, "department": [], "active": True,
                            "created_at": now, "updated_at": now} for u in missing]).execute()
        for chunk in _chunked(missing):
            staff.update(Staff.select(Staff.userid, Staff.id).where(Staff.account == account, Staff.userid.in_(chunk))
                         .tuples())
    externals = sorted({a["external_userid"] for a in adds})
    contact_of = {}
    for chunk in _chunked(externals):
        contact_of.update(WecomCustomer.select(WecomCustomer.external_userid, WecomCustomer.contact)
                          .where(WecomCustomer.account == account, WecomCustomer.external_userid.in_(chunk)).tuples())
    new = [e for e in externals if e not in contact_of]
    if new:
        placeholder = {f"wecom:{account}:{e}": e for e in new}
        for contact_id, external_id in bulk_insert("contact", ["name", "external_id", "attributes", "created_at",
                                                               "updated_at"],
                                                   (("", key, "{}", now, now) for key in placeholder),
                                                   returning=("id", "external_id")):
            contact_of[placeholder[external_id]] = contact_id
        bulk_insert("wecom_customer", ["account", "external_userid", "contact_id", "name", "type", "corp_name",
                                       "created_at", "updated_at"],
                    ((account, e, contact_of[e], "", 1, "", now, now) for e in new))
    current = set()
    for chunk in _chunked(sorted(set(contact_of[e] for e in externals))):
        current.update(ContactOwner.select(ContactOwner.contact, ContactOwner.staff)
                       .where(ContactOwner.contact.in_(chunk), ContactOwner.removed_at.is_null()).tuples())
    owners, events = [], []
    for a in adds:
        key = (contact_of[a["external_userid"]], staff[a["userid"]])
        if key in current:
            continue
        current.add(key)
        at = a.get("at") or now
        owners.append({"contact": key[0], "staff": key[1], "added_at": at, "add_way": 0, "state": a.get("state") or "",
                       "remark": "", "updated_at": now})
        events.append({"kind": "joined", "contact": key[0], "at": at, "source": source_of(account),
                       "staff": a["userid"], "group": None,
                       "details": {"state": a.get("state") or "", "add_way": 0, "external_userid": a["external_userid"],
                                   "welcome_code": a.get("welcome_code") or "", "half": bool(a.get("half"))}})
    bulk_insert("contact_owner", ["contact_id", "staff_id", "added_at", "add_way", "state", "remark", "removed_by",
                                  "updated_at"],
                ((o["contact"], o["staff"], o["added_at"], 0, o["state"], "", "", now) for o in owners))
    record_events(events)
    return len(owners)
