"""Prompt templates, personas and plans from the package, overridable per file from a folder."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import yaml

from bot.engine.plans import Plan, PromptError, parse_plan

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n---[ \t]*(?:\n|\Z)", re.DOTALL)
_FRONT_MATTER_KEYS = frozenset({"description", "read_only"})

# What the library holds: (folder under templates/, file suffix, word for messages).
_TEMPLATES = ("", ".md", "template")
_PERSONAS = ("personas", ".md", "persona")
_PLANS = ("plans", ".yaml", "plan")


@dataclass(frozen=True)
class TemplateText:
    """A template's Markdown body and what its optional YAML front matter says."""

    body: str
    description: str = ""
    read_only: bool | None = None


def validate_name(name: str, kind: str = "template") -> str:
    """Return the name if it is a safe file stem (`[a-z0-9][a-z0-9_-]*`), else PromptError."""
    if not isinstance(name, str) or NAME_PATTERN.fullmatch(name) is None:
        raise PromptError(
            f"invalid {kind} name {name!r}: use lower-case letters, digits, '-' and '_'"
        )
    return name


def split_front_matter(name: str, text: str) -> TemplateText:
    """Split `---`-delimited YAML front matter (`description`, `read_only`) from the body."""
    text = text.replace("\r\n", "\n")
    found = _FRONT_MATTER.match(text)
    if found is None:
        return TemplateText(body=text.strip())
    try:
        data = yaml.safe_load(found.group(1)) or {}
    except yaml.YAMLError:
        raise PromptError(f"template {name!r} has front matter that is not valid YAML") from None
    if not isinstance(data, dict) or not set(data) <= _FRONT_MATTER_KEYS:
        raise PromptError(
            f"template {name!r} front matter may only set: {', '.join(sorted(_FRONT_MATTER_KEYS))}"
        )
    read_only = data.get("read_only")
    if read_only is not None and not isinstance(read_only, bool):
        raise PromptError(f"template {name!r} front matter: read_only must be true or false")
    return TemplateText(
        body=text[found.end() :].strip(),
        description=str(data.get("description") or ""),
        read_only=read_only,
    )


class TemplateLibrary:
    """Finds templates (`NAME.md`), personas (`personas/NAME.md`) and plans (`plans/NAME.yaml`).

    A file of the same name in `override_dir` wins over the shipped one; new names there are
    allowed. Files are read on each call, so edits apply to the next run without a restart.
    """

    def __init__(self, override_dir: Path | None = None) -> None:
        self.override_dir = override_dir
        self.package_dir: Traversable = resources.files("bot") / "templates"

    def template(self, name: str) -> str:
        """The template's raw text (front matter included; see `split_front_matter`)."""
        return self._read(_TEMPLATES, name)

    def template_text(self, name: str) -> TemplateText:
        return split_front_matter(name, self.template(name))

    def persona(self, name: str) -> str:
        return self._read(_PERSONAS, name).strip()

    def plan(self, name: str) -> Plan:
        return parse_plan(name, self._read(_PLANS, name))

    def names(self) -> frozenset[str]:
        """Template names, shipped and overridden."""
        return self._names(_TEMPLATES)

    def persona_names(self) -> frozenset[str]:
        return self._names(_PERSONAS)

    def plan_names(self) -> frozenset[str]:
        return self._names(_PLANS)

    def _read(self, kind: tuple[str, str, str], name: str) -> str:
        folder, suffix, word = kind
        validate_name(name, word)
        for directory in self._directories(folder):
            candidate = directory / f"{name}{suffix}"
            if candidate.is_file():
                try:
                    return candidate.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError) as error:
                    raise PromptError(f"cannot read {word} {name!r}: {error}") from None
        known = ", ".join(sorted(self._names(kind))) or "none"
        raise PromptError(f"unknown {word} {name!r} (known: {known})")

    def _names(self, kind: tuple[str, str, str]) -> frozenset[str]:
        folder, suffix, _ = kind
        found: set[str] = set()
        for directory in self._directories(folder):
            if not directory.is_dir():
                continue
            for entry in directory.iterdir():
                stem = entry.name.removesuffix(suffix)
                if entry.name.endswith(suffix) and entry.is_file() and NAME_PATTERN.fullmatch(stem):
                    found.add(stem)
        return frozenset(found)

    def _directories(self, folder: str) -> list[Traversable]:
        """Where to look, override folder first."""
        bases: list[Traversable] = []
        if self.override_dir is not None:
            bases.append(self.override_dir)
        bases.append(self.package_dir)
        return [base / folder if folder else base for base in bases]
