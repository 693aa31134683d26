"""Slash commands: one registry that parses comments and generates `/help`."""

from .help import render_help, render_usage
from .models import (
    Command,
    CommandError,
    DispatchArgs,
    FixedTemplateNames,
    ParseContext,
    TemplateNames,
)
from .parser import commands_added_by_edit, parse_comment
from .registry import REGISTRY, CommandSpec, Where

__all__ = [
    "REGISTRY",
    "Command",
    "CommandError",
    "CommandSpec",
    "DispatchArgs",
    "FixedTemplateNames",
    "ParseContext",
    "TemplateNames",
    "Where",
    "commands_added_by_edit",
    "parse_comment",
    "render_help",
    "render_usage",
]
