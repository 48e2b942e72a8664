"""How many contacts an audience reaches on the channels a send would use.

A contact is reached when it matches the expression and at least one of the
channels (a campaign's fallback order, a calendar's one channel) has an address
for it that the channel accepts and no opt-out. The SQL part (an address is
present, no opt-out) is the expression language's own ``channel:`` term, so
the count agrees with segments and the API. A channel that checks addresses
itself (`Channel.address` overridden: the SMS channel takes only valid E.164
numbers) cannot be asked in SQL, so the contacts the SQL part leaves are read
and each address is put to that channel, as a send would.
"""
from __future__ import annotations

from campaigner.audience.expressions import (And, ChannelTerm, ExpressionError, Or, compile_node, count_query,
                                             parse_expression)
from campaigner.audience.models import Contact, OptOut
from campaigner.channels import Channel
from campaigner.db import database

READ_CHUNK = 5000


def count_reachable(expression: str, channels: list[str], segment_channel: str | None = None) -> int:
    """How many contacts match `expression` and are reachable on one of `channels` (none given: all matching).

    `segment_channel` is a saved segment's own channel, which narrows it. Raises
    `ExpressionError` for a bad expression or an unknown channel.
    """
    from campaigner.runtime import current_runtime

    node = parse_expression(expression)
    if segment_channel:
        node = And((node, ChannelTerm(segment_channel)))
    if not channels:
        return count_query(compile_node(node))
    plugins = current_runtime().plugins
    registered = {name: plugins.channel(name) for name in dict.fromkeys(channels)}
    for name, channel in registered.items():
        if channel is None:
            raise ExpressionError(f"unknown channel {name!r}", 0)
    reach = And((node, Or(tuple(ChannelTerm(name) for name in registered))))
    query = compile_node(reach)
    if not any(_checks_addresses(channel) for channel in registered.values()):
        return count_query(query)
    return _count_with_address_checks(query, registered)


def _checks_addresses(channel: Channel) -> bool:
    return type(channel).address is not Channel.address


def _count_with_address_checks(query, channels: dict[str, Channel]) -> int:
    fields = sorted({channel.contact_field for channel in channels.values()})
    opted_out = {(contact_id, name) for contact_id, name in
                 OptOut.select(OptOut.contact, OptOut.channel)
                 .where(OptOut.channel.in_(list(channels)), OptOut.contact.in_(query)).tuples()}
    reached = 0
    cursor = database.execute(Contact.select(Contact.id, *[getattr(Contact, f) for f in fields])
                              .where(Contact.id.in_(query)))
    while rows := cursor.fetchmany(READ_CHUNK):
        for contact_id, *values in rows:
            contact = Contact(id=contact_id, **dict(zip(fields, values)))
            if any((contact_id, name) not in opted_out and channel.address(contact)
                   for name, channel in channels.items()):
                reached += 1
    return reached
