"""Tests for slash-command parsing, edit detection and `/help` generation."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.commands import (
    REGISTRY,
    Command,
    CommandError,
    FixedTemplateNames,
    ParseContext,
    commands_added_by_edit,
    parse_comment,
    render_help,
    render_usage,
)
from bot.commands.dispatch import misspelt_agent
from bot.engine.prompts import PromptInput, TemplateLibrary, build_prompt

AGENTS = frozenset({"codex", "claude", "gemini", "coderabbit", "local"})
SHIPPED = TemplateLibrary(None)  # the templates, personas and plans in the package
ON_ISSUE = ParseContext(known_agents=AGENTS, template_names=SHIPPED)
ON_PR = ParseContext(known_agents=AGENTS, template_names=SHIPPED, is_pull_request=True)
CLAUDE_ONLY_PR = ParseContext(known_agents=frozenset({"claude"}), is_pull_request=True)


def names(body: str, context: ParseContext = ON_PR) -> list[str]:
    """The names of the commands (and errors) found in body."""
    return [parsed.name for parsed in parse_comment(body, context)]


def single_command(body: str, context: ParseContext = ON_PR) -> Command:
    """The one well-formed command in body."""
    [parsed] = parse_comment(body, context)
    assert isinstance(parsed, Command), parsed
    return parsed


def single_error(body: str, context: ParseContext = ON_PR) -> CommandError:
    """The one command error in body."""
    [parsed] = parse_comment(body, context)
    assert isinstance(parsed, CommandError), parsed
    return parsed


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("/status", ["status"]),
        ("  /STATUS", ["status"]),
        ("please\n/retry\nthanks", ["retry"]),
        ("/cancel\n/dispatch claude\n/status", ["cancel", "dispatch", "status"]),
        ("/help me please", ["help"]),
        ("/status\r\n/retry\r\n", ["status", "retry"]),
        ("see /status", []),
        ("- /status", []),
        ("> /status", []),
        ("  > /dispatch codex", []),
        ("```\n/status\n```", []),
        ("~~~\n/status\n~~~\n/retry", ["retry"]),
        ("    ```python\n    /status\n    ```\n/cancel", ["cancel"]),
        ("````\n```\n/status\n````\n/retry", ["retry"]),
        ("```\n/status\n~~~\n/retry", []),  # unclosed fence runs to the end
        ("```inline``` code\n/status", ["status"]),
        ("/dispatch go\n```\n/cancel\n```\n/status", ["dispatch", "status"]),
        ("/usr/bin/env python", []),
        ("/https://example.org", []),
        ("/deploy production", []),
        ("/lgtm", []),
        ("/status/", []),
        ("", []),
    ],
)
def test_which_lines_are_commands(body: str, expected: list[str]) -> None:
    assert names(body) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("/dispatch", {"agent": None, "model": None, "instructions": ""}),
        ("/dispatch codex", {"agent": "codex", "model": None, "instructions": ""}),
        ("/dispatch Codex:gpt-5.4-mini", {"agent": "codex", "model": "gpt-5.4-mini"}),
        ("/dispatch local:qwen2.5-coder:32b", {"agent": "local", "model": "qwen2.5-coder:32b"}),
        ("/dispatch fix the flaky test", {"agent": None, "instructions": "fix the flaky test"}),
        ("/dispatch claude fix it", {"agent": "claude", "instructions": "fix it"}),
        ("/dispatch fix the user's bug", {"agent": None, "instructions": "fix the user's bug"}),
        ("/dispatch https://x.org down", {"agent": None, "instructions": "https://x.org down"}),
        ("/dispatch fix: the test", {"agent": None, "instructions": "fix: the test"}),
        ("/dispatch codex make a=b work", {"agent": "codex", "instructions": "make a=b work"}),
        ("/dispatch timeout=5", {"timeout_minutes": 5, "instructions": ""}),
        ("/dispatch TIMEOUT=1440", {"timeout_minutes": 1440}),
        ("/dispatch var.X='say \"hi\"'", {"variables": {"X": 'say "hi"'}}),
        ('/dispatch var.X="a \\"b\\""', {"variables": {"X": 'a "b"'}}),
        ("/dispatch var.X=a\\ b", {"variables": {"X": "a b"}}),
        ("/dispatch persona='test-first'", {"persona": "test-first"}),
        ("/dispatch base=feature/x-1", {"base": "feature/x-1"}),
        ("/dispatch template=coding", {"template": "coding"}),
        ("/dispatch\nline one\nline two", {"instructions": "line one\nline two"}),
        ("/dispatch first\nsecond\n\n\n/status", {"instructions": "first\nsecond"}),
        ("/dispatch codex\n\n  indented\n", {"instructions": "  indented"}),
        ("/dispatch go\n```\n/status\n```\nend", {"instructions": "go\n```\n/status\n```\nend"}),
        ("/dispatch go\n```\n/retry", {"instructions": "go\n```\n/retry"}),
        ("/dispatch go\n/deploy now\n/usr/bin", {"instructions": "go\n/deploy now\n/usr/bin"}),
        ("/dispatch go\n> quoted error\n/status", {"instructions": "go\n> quoted error"}),
        # Words near an agent's name that are not one slip away from it are instructions.
        ("/dispatch code cleanup", {"agent": None, "instructions": "code cleanup"}),
        ("/dispatch locale bug", {"agent": None, "instructions": "locale bug"}),
        ("/dispatch cloud setup", {"agent": None, "instructions": "cloud setup"}),
        ("/dispatch\ngemeni is our app", {"agent": None, "instructions": "gemeni is our app"}),
    ],
)
def test_dispatch_arguments(body: str, expected: dict[str, object]) -> None:
    [first, *_] = parse_comment(body, ON_PR)  # the first command; a later one ends its text
    assert isinstance(first, Command) and first.dispatch is not None
    assert {field: getattr(first.dispatch, field) for field in expected} == expected


def test_dispatch_options() -> None:
    body = (
        '/dispatch codex:gpt-5 template=security persona="careful-maintainer" plan=bugfix'
        " base=release/2.x timeout=30 var.TICKET='OPS 12' var.empty= Timeout_note stays\nmore"
    )
    command = single_command(body)
    args = command.dispatch
    assert args is not None
    assert args.agent == "codex" and args.model == "gpt-5"
    assert args.template == "security"
    assert args.persona == "careful-maintainer"
    assert args.plan == "bugfix"
    assert args.base == "release/2.x"
    assert args.timeout_minutes == 30
    assert args.variables == {"TICKET": "OPS 12", "empty": ""}
    assert args.instructions == "Timeout_note stays\nmore"
    assert command.line == body.splitlines()[0]


@pytest.mark.parametrize(
    ("body", "message_part"),
    [
        ("/dispatch nope:gpt-5", "unknown agent 'nope'"),
        ("/dispatch gemeni fix the test", "unknown agent 'gemeni' (did you mean 'gemini'?)"),
        ("/dispatch Cladue", "did you mean 'claude'?"),
        ("/dispatch codxe timeout=5", "did you mean 'codex'?"),
        ("/dispatch codex: fix", "bad or empty model"),
        ("/dispatch colour=red", "unknown option 'colour'"),
        ("/dispatch codex model=x fix", "unknown option 'model'"),
        ("/dispatch var.1x=y", "invalid variable name '1x'"),
        ("/dispatch timeout=" + "9" * 5000, "timeout"),
        ("/dispatch timeout=5 timeout=6", "given twice"),
        ("/dispatch var.A=1 var.A=2", "given twice"),
        ("/dispatch base=", "needs a value"),
        *[(f"/dispatch timeout={bad}", f"timeout '{bad}'") for bad in ("0", "1441", "ten", "-5")],
        *[
            (f"/dispatch base={bad}", "not a valid branch name")
            for bad in ("a..b", "-rf", "/abs", "'has space'", "x~1", "a:b", "x.lock", "feat/")
        ],
        ("/dispatch template=fancy", "unknown template 'fancy'"),
        ('/dispatch persona="unclosed value', 'unclosed " quote'),
        ("/dispatch persona=don't", "unclosed ' quote"),
    ],
)
def test_dispatch_bad_arguments_are_reported_with_usage(body: str, message_part: str) -> None:
    error = single_error(body)
    assert error.name == "dispatch"
    assert message_part in error.message
    assert "\n" not in error.message
    assert error.usage == REGISTRY["dispatch"].usage
    assert error.line == body


@pytest.mark.parametrize(
    ("word", "meant"),
    [
        ("gemeni", "gemini"),  # one letter wrong
        ("GEMINU", "gemini"),
        ("cladue", "claude"),  # two adjacent letters swapped
        ("coderabbjt", "coderabbit"),
        ("gemini", None),  # the name itself is no slip
        ("claud", None),  # a letter missing: also a word of its own too often
        ("coderabit", None),
        ("cluade", "claude"),
        ("caludl", None),  # two letters wrong, not a swap
        ("elaudc", None),  # two letters swapped, but not adjacent ones
        ("geminis", None),
        ("fix", None),
        ("locale", None),
        ("xyzzy", None),
    ],
)
def test_misspelt_agent(word: str, meant: str | None) -> None:
    assert misspelt_agent(word, AGENTS) == meant


def test_short_agent_names_are_not_guessed_at() -> None:
    assert misspelt_agent("amp", frozenset({"amp"})) is None
    assert misspelt_agent("imp", frozenset({"amp"})) is None


def test_errors_list_what_is_allowed() -> None:
    assert all(agent in single_error("/dispatch nope:x").message for agent in AGENTS)
    message = single_error("/dispatch colour=red").message
    assert all(key in message for key in ("template", "persona", "plan", "base", "var.NAME"))


def test_agents_and_templates_are_validated_against_the_context_only() -> None:
    mine = ParseContext(
        known_agents=frozenset({"mybot"}),
        template_names=FixedTemplateNames(templates=frozenset({"mine"})),
    )
    args = single_command("/dispatch mybot:large template=mine", mine).dispatch
    assert args is not None and (args.agent, args.template) == ("mybot", "mine")
    assert "unknown agent 'codex'" in single_error("/dispatch codex:x", mine).message


def write_templates_dir(folder: Path) -> Path:
    """A config `templates_dir` adding a template, a persona and a plan (and a stray file)."""
    (folder / "personas").mkdir(parents=True)
    (folder / "plans").mkdir()
    (folder / "house-style.md").write_text("Follow the house style.\n", encoding="utf-8")
    (folder / "personas" / "release-manager.md").write_text("You ship.\n", encoding="utf-8")
    (folder / "personas" / "notes.txt").write_text("not a persona\n", encoding="utf-8")
    (folder / "plans" / "migration.yaml").write_text(
        "name: migration\nphases:\n  - name: Move\n    steps: [Move it.]\n", encoding="utf-8"
    )
    return folder


@pytest.mark.parametrize(
    ("option", "with_templates_dir", "error"),
    [
        ("template=coding", False, None),
        ("template=review", True, None),
        ("template=house-style", True, None),
        ("template=house-style", False, "unknown template 'house-style'; known templates: coding,"),
        ("template=fancy", True, "unknown template 'fancy'; known templates: coding, conventions,"),
        ("persona=careful-maintainer", False, None),
        ("persona=test-first", True, None),
        ("persona=release-manager", True, None),
        ("persona=release-manager", False, "unknown persona 'release-manager'"),
        (
            "persona=nosuch",
            True,
            "unknown persona 'nosuch'; known personas: careful-maintainer, release-manager,"
            " test-first",
        ),
        ('persona="careful reviewer"', False, "unknown persona 'careful reviewer'; known personas"),
        ("persona=Careful-Maintainer", False, "unknown persona 'Careful-Maintainer'"),
        ("persona=../personas/test-first", False, "unknown persona '../personas/test-first'"),
        ("persona=notes", True, "unknown persona 'notes'"),
        ("plan=bugfix", False, None),
        ("plan=feature", True, None),
        ("plan=migration", True, None),
        ("plan=migration", False, "unknown plan 'migration'; known plans: bugfix, feature"),
        ("plan=audit", True, "unknown plan 'audit'; known plans: bugfix, feature, migration"),
    ],
)
def test_template_persona_and_plan_names_come_from_the_template_library(
    tmp_path: Path, option: str, with_templates_dir: bool, error: str | None
) -> None:
    templates_dir = write_templates_dir(tmp_path / "templates") if with_templates_dir else None
    context = ParseContext(known_agents=AGENTS, template_names=TemplateLibrary(templates_dir))
    [parsed] = parse_comment(f"/dispatch codex {option} fix it", context)
    if error is None:
        assert isinstance(parsed, Command) and parsed.dispatch is not None
        key, _, value = option.partition("=")
        assert getattr(parsed.dispatch, key) == value.strip('"')
        assert parsed.dispatch.instructions == "fix it"
    else:
        assert isinstance(parsed, CommandError), parsed
        assert error in parsed.message and "\n" not in parsed.message
        assert parsed.usage == REGISTRY["dispatch"].usage


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("persona=careful-maintainer", "unknown persona 'careful-maintainer'; no personas are"),
        ("plan=bugfix", "unknown plan 'bugfix'; no plans are configured"),
        ("template=coding", "unknown template 'coding'; no templates are configured"),
    ],
)
def test_a_library_without_names_says_none_are_configured(option: str, message: str) -> None:
    empty = FixedTemplateNames(templates=frozenset())
    context = ParseContext(known_agents=AGENTS, template_names=empty)
    assert message in single_error(f"/dispatch {option}", context).message


class RecordingNames:
    """Template names that record which lists the parser asked for, or fail to list them."""

    def __init__(self, failure: OSError | None = None) -> None:
        self.asked: list[str] = []
        self.failure = failure

    def names(self) -> frozenset[str]:
        return self._list("templates", frozenset({"coding"}))

    def persona_names(self) -> frozenset[str]:
        return self._list("personas", frozenset({"careful-maintainer"}))

    def plan_names(self) -> frozenset[str]:
        return self._list("plans", frozenset({"bugfix"}))

    def _list(self, kind: str, names: frozenset[str]) -> frozenset[str]:
        self.asked.append(kind)
        if self.failure is not None:
            raise self.failure
        return names


@pytest.mark.parametrize(
    ("body", "asked"),
    [
        ("/status\n/dispatch codex fix it\n/retry", []),
        ("/dispatch codex var.persona=x timeout=5 persona and plan", []),
        ("/dispatch persona=careful-maintainer", ["personas"]),
        ("/dispatch plan=bugfix template=coding", ["templates", "plans"]),
    ],
)
def test_names_are_listed_only_for_a_dispatch_that_gives_one(body: str, asked: list[str]) -> None:
    names = RecordingNames()
    parsed = parse_comment(body, ParseContext(known_agents=AGENTS, template_names=names))
    assert all(isinstance(item, Command) for item in parsed)
    assert names.asked == asked


def test_a_folder_that_cannot_be_listed_is_an_error_reply_not_an_exception() -> None:
    names = RecordingNames(PermissionError(13, "Permission denied", "/srv/secret/templates"))
    context = ParseContext(known_agents=AGENTS, template_names=names)
    error = single_error("/dispatch persona=careful-maintainer", context)
    assert error.message == (
        "cannot list the personas to check 'careful-maintainer' (Permission denied)"
    )
    assert "/srv/secret" not in error.message


@pytest.mark.parametrize(
    ("body", "context", "expected"),
    [
        ("/review", ON_PR, "codex:review"),
        ("/review codex", ON_PR, "codex:review"),
        ("/review codex:review", ON_PR, "codex:review"),
        ("/review CodeRabbit", ON_PR, "coderabbit"),
        ("/review coderabbit:security", ON_PR, "coderabbit:security"),
        ("/review", ON_ISSUE, "error: only on pull requests"),
        ("/review coderabbit", ON_ISSUE, "error: only on pull requests"),
        ("/review claude", ON_PR, "error: 'claude' is not a review agent"),
        ("/review codex:gpt-5", ON_PR, "error: not a review agent"),
        ("/review coderabbit:", ON_PR, "error: not a review agent"),
        ("/review codex please", ON_PR, "error: at most one argument"),
        ("/review", CLAUDE_ONLY_PR, "error: not configured"),
    ],
)
def test_review(body: str, context: ParseContext, expected: str) -> None:
    [parsed] = parse_comment(body, context)
    if isinstance(parsed, Command):
        assert parsed.agent_spec == expected
    else:
        assert expected.removeprefix("error: ") in parsed.message
        assert parsed.usage == "/review [AGENT]"


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ("/answer use postgres", "use postgres"),
        ("/answer\nuse postgres\nversion 16\n\n/status", "use postgres\nversion 16"),
        ("/answer see:\n```\nSELECT 1;\n/cancel\n```", "see:\n```\nSELECT 1;\n/cancel\n```"),
        ("/answer", None),
        ("/answer   \n\n", None),
        ("/answer\n/status", None),
    ],
)
def test_answer(body: str, text: str | None) -> None:
    [first, *_] = parse_comment(body, ON_ISSUE)
    if text is None:
        assert isinstance(first, CommandError) and first.usage == "/answer TEXT…"
    else:
        assert isinstance(first, Command) and first.text == text


@pytest.mark.parametrize("name", ["retry", "cancel", "status", "help"])
def test_commands_without_arguments_ignore_extra_words(name: str) -> None:
    command = single_command(f"/{name} now please\nand more", ON_ISSUE)
    assert command.name == name
    assert command.line == f"/{name} now please"


def test_several_commands_run_in_order_with_errors_in_place() -> None:
    parsed = parse_comment("/dispatch nope:x\n/status\n/review\n/unknown\n/answer yes", ON_ISSUE)
    kinds = [f"{item.name}:{'ok' if isinstance(item, Command) else 'error'}" for item in parsed]
    assert kinds == ["dispatch:error", "status:ok", "review:error", "answer:ok"]


@pytest.mark.parametrize(
    ("previous", "new", "added"),
    [
        ("/status", "/status", []),
        ("/status", "/status\n/retry", ["/retry"]),
        ("", "/dispatch codex fix it", ["/dispatch codex fix it"]),
        ("/dispatch codex fix it", "/dispatch   codex fix it\nmore details", []),
        ("/DISPATCH codex fix it", "/dispatch codex fix it", []),
        ("/dispatch codex fix it", "/dispatch claude fix it", ["/dispatch claude fix it"]),
        ("/status", "/status\n/status", ["/status"]),
        ("```\n/status\n```", "/status", ["/status"]),
        ("/status\n/retry", "/retry", []),
        ("/dispatch nope:x", "/dispatch nope:x\nfixed typo", []),
        ("typo /stauts", "/status", ["/status"]),
    ],
)
def test_commands_added_by_edit(previous: str, new: str, added: list[str]) -> None:
    result = commands_added_by_edit(previous, new, ON_PR)
    assert [parsed.line for parsed in result] == added


def test_help_is_generated_from_the_registry() -> None:
    text = render_help(min_permission="write", default_agent="codex", known_agents=AGENTS)
    assert "people with at least `write` permission" in text
    assert "`codex` (default)" in text
    for spec in REGISTRY.values():
        assert spec.usage in text
        assert spec.summary in text
        assert all(example in text for example in spec.examples)
    assert parse_comment(text, ON_PR) == []  # examples sit in a code block
    other = render_help(min_permission="maintain", default_agent="x", known_agents=[])
    assert "`maintain`" in other


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_registry_examples_parse_cleanly_and_appear_in_usage(name: str) -> None:
    spec, usage = REGISTRY[name], render_usage(name)
    assert spec.examples and spec.usage.startswith(f"/{name}") and spec.usage in usage
    for example in spec.examples:
        assert single_command(example, ON_PR).name == name
        assert example in usage


def help_examples() -> list[str]:
    """The lines of the code block that `/help` shows as examples."""
    text = render_help(min_permission="write", default_agent="codex", known_agents=AGENTS)
    block = text.split("**Examples:**", 1)[1].split("```")[1]
    return [line for line in block.splitlines() if line.strip()]


def test_help_shows_a_persona_and_a_plan_example() -> None:
    examples = help_examples()
    assert any("persona=" in example for example in examples)
    assert any("plan=" in example for example in examples)


@pytest.mark.parametrize("example", help_examples())
def test_every_help_example_parses_without_error(example: str) -> None:
    assert isinstance(single_command(example, ON_PR), Command)


@pytest.mark.parametrize("example", REGISTRY["dispatch"].examples)
def test_dispatch_examples_build_a_prompt_with_the_shipped_library(example: str) -> None:
    args = single_command(example, ON_ISSUE).dispatch
    assert args is not None
    prompt_input = PromptInput(
        template=args.template or "coding",
        task="Fix the README",
        forge="gitea",
        repo_full_name="owner/repo",
        branch="agent/issue-3-fix",
        base_branch="main",
        number=3,
        persona=args.persona,
        plan=args.plan,
        variables=args.variables,
    )
    prompt = build_prompt(prompt_input, SHIPPED)
    assert not args.persona or "## Persona" in prompt
    assert not args.plan or f"## Plan: {args.plan}" in prompt


def test_render_usage_of_unknown_command_raises_key_error() -> None:
    with pytest.raises(KeyError):
        render_usage("deploy")


_PIECES = "/dispatch|/review|/answer|/status|/retry| |\n|\r\n|```|~~~|>|'|\"|=|:|\\|x"
_TOKENS = "var.|timeout=|base=|template=|codex|codex:|nope:x"
_COMMENT_PIECES = st.sampled_from(f"{_PIECES}|{_TOKENS}".split("|"))
_COMMENTS = st.one_of(
    st.text(), st.lists(st.one_of(_COMMENT_PIECES, st.text(max_size=8))).map("".join)
)


@given(_COMMENTS, st.booleans())
def test_parse_comment_never_raises(body: str, is_pull_request: bool) -> None:
    context = ParseContext(known_agents=AGENTS, is_pull_request=is_pull_request)
    for parsed in parse_comment(body, context):
        assert parsed.name in REGISTRY
        if isinstance(parsed, CommandError):
            assert parsed.message and "\n" not in parsed.message
    commands_added_by_edit(body[: len(body) // 2], body, context)
