"""Channel adapters: one module per provider, registered here explicitly."""

from channels.base import Channel
from channels.dingtalk import DingTalkChannel
from channels.email import EmailChannel
from channels.feishu import FeishuChannel
from channels.log import LogChannel
from channels.pagerduty import PagerDutyChannel
from channels.slack import SlackChannel
from channels.teams import TeamsChannel
from channels.telegram import TelegramChannel
from channels.webhook import WebhookChannel
from channels.wecom import WeComChannel

CHANNEL_TYPES: dict[str, type[Channel]] = {
    "log": LogChannel,
    "slack": SlackChannel,
    "email": EmailChannel,
    "dingtalk": DingTalkChannel,
    "wecom": WeComChannel,
    "webhook": WebhookChannel,
    "feishu": FeishuChannel,
    "teams": TeamsChannel,
    "telegram": TelegramChannel,
    "pagerduty": PagerDutyChannel,
}
