"""Event handlers: what the bot does with a normalised comment or label change."""

from bot.handlers.router import handle_inbox_row

__all__ = ["handle_inbox_row"]
