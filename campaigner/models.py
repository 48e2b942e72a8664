"""Every model, in the order their tables are created (referenced tables first)."""
from campaigner.accounts.models import MODELS as accounts
from campaigner.audience.models import MODELS as audience
from campaigner.audit.models import MODELS as audit
from campaigner.calendars.models import MODELS as calendars
from campaigner.campaigns.models import MODELS as campaigns
from campaigner.content.models import MODELS as content
from campaigner.deliveries.models import MODELS as deliveries
from campaigner.links.models import MODELS as links
from campaigner.analytics.models import MODELS as analytics
from campaigner.offers.models import MODELS as offers
from campaigner.settings_store import MODELS as stored_settings
from campaigner.token_store import MODELS as tokens
from campaigner.events.models import MODELS as events
from campaigner.inbound.models import MODELS as inbound
from campaigner.wecom.models import MODELS as wecom

ALL_MODELS = [*accounts, *audit, *audience, *content, *campaigns, *calendars, *deliveries, *links, *analytics, *offers,
              *stored_settings, *tokens, *events, *inbound, *wecom]
