"""Slash commands: one registry that parses comments and generates `/help`."""

from .help import render_help, render_usage
from .models import Command, CommandError, DispatchArgs, ParseContext
from .parser import commands_added_by_edit, parse_comment
from .registry import REGISTRY, CommandSpec, Where

__all__ = [
    "REGISTRY",
    "Command",
    "CommandError",
    "CommandSpec",
    "DispatchArgs",
    "ParseContext",
    "Where",
    "commands_added_by_edit",
    "parse_comment",
    "render_help",
    "render_usage",
]
