"""Parse the arguments of `/dispatch`: agent spec, key=value options, instructions."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from types import MappingProxyType

from .lexer import Invocation, join_block
from .models import ArgumentError, Command, DispatchArgs, ParseContext

MAX_TIMEOUT_MINUTES = 1440
DISPATCH_OPTIONS: Mapping[str, str] = MappingProxyType(
    {
        "template=NAME": "prompt template, e.g. `coding`, `conventions`, `security`, `review`",
        "persona=NAME": "persona the agent should adopt, e.g. `careful-maintainer`, `test-first`",
        "plan=NAME": "YAML plan to follow; its `{{NAME}}` placeholders take `var.NAME` values",
        "base=BRANCH": "branch to start from (default: the repository's default branch)",
        "timeout=MINUTES": f"a shorter time limit for the run (1–{MAX_TIMEOUT_MINUTES} minutes)",
        "var.NAME=VALUE": "a variable for the plan and prompt",
    }
)
ALLOWED_KEYS: tuple[str, ...] = tuple(option.split("=")[0] for option in DISPATCH_OPTIONS)

_WORD = r"[A-Za-z][A-Za-z0-9_-]*"
_MODEL = r"[A-Za-z0-9][A-Za-z0-9._:/@+-]*"
_AGENT_SPEC_SHAPE = re.compile(rf"({_WORD}):({_MODEL})")
_MODEL_SHAPE = re.compile(_MODEL)
_FIRST_TOKEN = re.compile(r"\s*(\S+)")
_OPTION_KEY = re.compile(r"\s*([A-Za-z][A-Za-z0-9_.-]*)=")
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_QUOTES = "\"'"


def parse_dispatch(invocation: Invocation, context: ParseContext) -> Command:
    """Parse `/dispatch [AGENT[:MODEL]] [key=value …] [instructions…]`."""
    rest = invocation.rest
    agent, model, position = _read_agent_spec(rest, context)
    options: dict[str, str] = {}
    variables: dict[str, str] = {}
    while (key_match := _OPTION_KEY.match(rest, position)) is not None:
        key = _normalise_key(key_match[1])
        value, position = _read_value(rest, key_match.end(), key)
        _store_option(key, value, options, variables)
    names = context.template_names
    args = DispatchArgs(
        agent=agent,
        model=model,
        template=_checked_name(options.get("template"), "template", names.names),
        persona=_checked_name(options.get("persona"), "persona", names.persona_names),
        plan=_checked_name(options.get("plan"), "plan", names.plan_names),
        base=_checked_base(options.get("base")),
        timeout_minutes=_checked_timeout(options.get("timeout")),
        variables=variables,
        instructions=join_block(rest[position:], invocation.following),
    )
    return Command(name=invocation.name, line=invocation.line, dispatch=args)


def _read_agent_spec(rest: str, context: ParseContext) -> tuple[str | None, str | None, int]:
    """Read a leading AGENT[:MODEL]; return (agent, model, position after it)."""
    token_match = _FIRST_TOKEN.match(rest)
    if token_match is None:
        return None, None, 0
    token = token_match[1]
    if "=" in token:
        return None, None, 0
    known = context.agent_bases()
    base, colon, model = token.partition(":")
    if base.lower() in known:
        if colon and not _MODEL_SHAPE.fullmatch(model):
            raise ArgumentError(f"'{token}' is not a valid AGENT:MODEL (bad or empty model)")
        return base.lower(), (model or None), token_match.end()
    if _AGENT_SPEC_SHAPE.fullmatch(token):
        raise ArgumentError(f"unknown agent '{base}'; known agents: {_listing(known)}")
    meant = misspelt_agent(token, known)
    if meant is not None:
        raise ArgumentError(
            f"unknown agent '{token}' (did you mean '{meant}'?); to begin the instructions"
            " with that word, start them on the next line"
        )
    return None, None, 0


def misspelt_agent(word: str, known: frozenset[str]) -> str | None:
    """The known agent `word` is one slip away from (one letter wrong, or two adjacent letters
    swapped), or None. Only names of five letters or more count: a shorter word is too likely
    to be a real first word of instructions. Otherwise `/dispatch gemeni fix it` would run the
    default agent on the task "gemeni fix it"."""
    word = word.lower()
    for name in sorted(known):
        if len(name) < 5 or len(word) != len(name) or word == name:
            continue
        differences = [index for index, (a, b) in enumerate(zip(word, name, strict=True)) if a != b]
        if len(differences) == 1:
            return name
        if len(differences) == 2:
            first, second = differences
            if second == first + 1 and (word[first], word[second]) == (name[second], name[first]):
                return name
    return None


def _normalise_key(key: str) -> str:
    """Lower-case a key, keeping the case of a variable's NAME."""
    prefix, dot, name = key.partition(".")
    return f"{prefix.lower()}{dot}{name}"


def _read_value(text: str, start: int, key: str) -> tuple[str, int]:
    """Read an option value with shell-like quoting; return (value, position after it)."""
    characters: list[str] = []
    quote: str | None = None
    position = start
    while position < len(text):
        character = text[position]
        escaped_next = position + 1 < len(text) and character == "\\"
        if quote is not None:
            if character == quote:
                quote = None
            elif escaped_next and quote == '"' and text[position + 1] in '"\\':
                position += 1
                characters.append(text[position])
            else:
                characters.append(character)
        elif character in _QUOTES:
            quote = character
        elif character.isspace():
            break
        elif escaped_next:
            position += 1
            characters.append(text[position])
        else:
            characters.append(character)
        position += 1
    if quote is not None:
        raise ArgumentError(f"unclosed {quote} quote in the value of '{key}'")
    return "".join(characters), position


def _store_option(key: str, value: str, options: dict[str, str], variables: dict[str, str]) -> None:
    """Validate a key and store its value, refusing unknown and repeated keys."""
    if key.startswith("var."):
        name = key.removeprefix("var.")
        if not _VARIABLE_NAME.fullmatch(name):
            raise ArgumentError(
                f"invalid variable name '{name}' in '{key}' (letters, digits, _; not first digit)"
            )
        if name in variables:
            raise ArgumentError(f"variable '{name}' is given twice")
        variables[name] = value
        return
    if key not in ALLOWED_KEYS:
        raise ArgumentError(f"unknown option '{key}'; allowed: {', '.join(ALLOWED_KEYS)}")
    if key in options:
        raise ArgumentError(f"option '{key}' is given twice")
    if not value.strip():
        raise ArgumentError(f"option '{key}' needs a value")
    options[key] = value


def _checked_name(
    name: str | None, kind: str, list_known: Callable[[], frozenset[str]]
) -> str | None:
    """The template, persona or plan name if the template library knows it (listed only now)."""
    if name is None:
        return None
    try:
        known = list_known()
    except OSError as error:
        reason = error.strerror or "read error"
        raise ArgumentError(f"cannot list the {kind}s to check '{name}' ({reason})") from None
    if name in known:
        return name
    if not known:
        raise ArgumentError(f"unknown {kind} '{name}'; no {kind}s are configured")
    raise ArgumentError(f"unknown {kind} '{name}'; known {kind}s: {_listing(known)}")


def _checked_timeout(timeout: str | None) -> int | None:
    """The timeout as whole minutes between 1 and MAX_TIMEOUT_MINUTES."""
    if timeout is None:
        return None
    is_number = timeout.isascii() and timeout.isdigit() and len(timeout) <= 6
    minutes = int(timeout) if is_number else 0
    if not 1 <= minutes <= MAX_TIMEOUT_MINUTES:
        raise ArgumentError(
            f"timeout '{timeout}' must be a whole number of minutes from 1 to {MAX_TIMEOUT_MINUTES}"
        )
    return minutes


def _checked_base(base: str | None) -> str | None:
    """The base branch if it is a plausible git branch name."""
    if base is None:
        return None
    if not is_plausible_branch_name(base):
        raise ArgumentError(f"base '{base}' is not a valid branch name")
    return base


def is_plausible_branch_name(name: str) -> bool:
    """Whether name could be a git branch (a conservative subset of git check-ref-format)."""
    if not name or len(name) > 255 or name == "@":
        return False
    if name.startswith(("-", "/")) or name.endswith(("/", ".", ".lock")):
        return False
    if any(fragment in name for fragment in ("..", "//", "@{")):
        return False
    if any(component.startswith(".") for component in name.split("/")):
        return False
    return not any(
        character.isspace() or not character.isprintable() or character in "~^:?*[\\"
        for character in name
    )


def _listing(names: frozenset[str]) -> str:
    """Names sorted and comma-separated, or a note that there are none."""
    return ", ".join(sorted(names)) or "(none configured)"
