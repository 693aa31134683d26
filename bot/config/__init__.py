"""Configuration: the pydantic models of config.yaml and the loader that validates it."""

from bot.config.loader import ConfigError, load_settings, mask_settings
from bot.config.models import ForgeConfig, Settings

__all__ = ["ConfigError", "ForgeConfig", "Settings", "load_settings", "mask_settings"]
