"""Which contacts a campaign targets: its audience expression or saved segment, as one SQL query."""
from __future__ import annotations

from campaigner.audience.expressions import ExpressionError, compile_audience, count_query


def audience_source(campaign) -> tuple[str, str | None]:
    """(expression, channel) of the campaign's audience: the saved segment's when it has one."""
    if campaign.segment_id:
        segment = campaign.segment
        return segment.expression or "", segment.channel or None
    return campaign.audience or "", None


def audience_query(campaign):
    """A query of Contact.id for everyone the campaign targets; raises EngineError on a bad expression."""
    from campaigner.deliveries.engine import EngineError

    expression, channel = audience_source(campaign)
    try:
        return compile_audience(expression, channel)
    except ExpressionError as exc:
        raise EngineError(f"the audience expression is not valid: {exc}") from None


def audience_count(campaign) -> int:
    """How many contacts the campaign targets now."""
    return count_query(audience_query(campaign))
