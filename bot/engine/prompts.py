"""Build the agent's prompt from a template, the task, the issue and its discussion (DESIGN §7)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from bot.engine.plans import Plan, PlanPhase, PromptError, render_plan, substitute
from bot.engine.prompt_sections import (
    discussion_section,
    inline_code,
    issue_section,
    resume_section,
    rules_section,
    task_section,
    untrusted_note,
)
from bot.engine.template_library import TemplateLibrary, TemplateText, validate_name
from bot.engine.text_cleaning import clean_untrusted_text, fence, truncate

__all__ = [
    "DiscussionComment",
    "Plan",
    "PlanPhase",
    "PromptError",
    "PromptInput",
    "ResumeContext",
    "TemplateLibrary",
    "TemplateText",
    "build_prompt",
    "clean_untrusted_text",
    "save_prompt",
]

PROMPT_FILE_NAME = "prompt.md"
READ_ONLY_TEMPLATES = frozenset({"review"})
MAX_DIFF_STAT_CHARS = 8_000


class DiscussionComment(BaseModel):
    model_config = ConfigDict(frozen=True)

    author_login: str
    body: str


class ResumeContext(BaseModel):
    """What a `/answer` resume needs: the first task, the agent's question and the answer."""

    model_config = ConfigDict(frozen=True)

    original_task: str = ""
    question: str
    answer: str
    answered_by: str = ""


class PromptInput(BaseModel):
    """Everything a prompt is built from; forge text in it is cleaned when rendered."""

    model_config = ConfigDict(frozen=True)

    template: str = "coding"
    task: str
    instructions: str = ""
    forge: str
    repo_full_name: str
    branch: str
    base_branch: str
    number: int
    is_pull_request: bool = False
    issue_title: str = ""
    issue_body: str = ""
    issue_url: str = ""
    discussion: list[DiscussionComment] = []
    bot_logins: frozenset[str] = frozenset()
    diff_stat: str = ""
    persona: str | None = None
    plan: str | None = None
    variables: dict[str, str] = {}
    resume: ResumeContext | None = None

    @property
    def kind(self) -> str:
        return "pull request" if self.is_pull_request else "issue"


def built_in_variables(prompt_input: PromptInput) -> dict[str, str]:
    """Values every template, persona and plan may use; they win over `var.NAME` values."""
    return {
        "repository": prompt_input.repo_full_name,
        "forge": prompt_input.forge,
        "branch": prompt_input.branch,
        "base_branch": prompt_input.base_branch,
        "number": str(prompt_input.number),
        "kind": prompt_input.kind,
    }


def build_prompt(prompt_input: PromptInput, library: TemplateLibrary) -> str:
    """The full prompt: context, task, template, persona, plan, forge text, then the rules.

    Raises PromptError for an unknown template, persona or plan, or a missing variable.
    """
    variables = {
        name: clean_untrusted_text(value) for name, value in prompt_input.variables.items()
    }
    variables.update(built_in_variables(prompt_input))
    template = library.template_text(validate_name(prompt_input.template, "template"))
    read_only = template.read_only
    if read_only is None:
        read_only = prompt_input.template in READ_ONLY_TEMPLATES
    sections = [
        _introduction(prompt_input),
        _where_section(prompt_input),
        resume_section(prompt_input.resume, prompt_input),
        task_section(prompt_input, read_only),
        substitute(template.body, variables, f"template {prompt_input.template!r}"),
    ]
    if prompt_input.persona:
        persona = library.persona(validate_name(prompt_input.persona, "persona"))
        persona_text = substitute(persona, variables, f"persona {prompt_input.persona!r}")
        sections.append(f"## Persona\n\nTake on this role for the whole task:\n\n{persona_text}")
    if prompt_input.plan:
        plan = library.plan(validate_name(prompt_input.plan, "plan"))
        sections.append(render_plan(plan, variables))
    forge_text = [
        issue_section(prompt_input),
        discussion_section(prompt_input),
        _diff_stat_section(prompt_input),
    ]
    if any(forge_text):
        sections.append(untrusted_note(prompt_input))
        sections.extend(forge_text)
    sections.append(rules_section(prompt_input, read_only))
    return "\n\n".join(section.strip() for section in sections if section.strip()) + "\n"


def _introduction(prompt_input: PromptInput) -> str:
    return (
        "# Task for an AI coding agent\n\n"
        f"You are an AI coding agent. A maintainer of {inline_code(prompt_input.repo_full_name)}"
        f" dispatched you to work on {prompt_input.kind} #{prompt_input.number}. Your current"
        " directory is a git checkout of the repository, in a sandbox."
    )


def _where_section(prompt_input: PromptInput) -> str:
    kind_title = prompt_input.kind.capitalize()
    url = clean_untrusted_text(prompt_input.issue_url)
    reference = f"{kind_title} #{prompt_input.number}" + (f": <{url}>" if url else "")
    branch = inline_code(prompt_input.branch)
    base = inline_code(prompt_input.base_branch)
    if prompt_input.is_pull_request:
        branch_line = (
            f"Branch: {branch}, the pull request's head (you are on it); it is to be merged"
            f" into {base}. Your commits go onto this pull request."
        )
    else:
        branch_line = (
            f"Branch: {branch}, made from {base} for this task (you are on it). The bot"
            " pushes it and opens a pull request when you finish."
        )
    return "\n".join(
        [
            "## Where you are",
            "",
            f"- Forge: {inline_code(prompt_input.forge)}",
            f"- Repository: {inline_code(prompt_input.repo_full_name)}",
            f"- {reference}",
            f"- {branch_line}",
        ]
    )


def _diff_stat_section(prompt_input: PromptInput) -> str:
    diff_stat = clean_untrusted_text(prompt_input.diff_stat)
    if not prompt_input.is_pull_request or not diff_stat:
        return ""
    return (
        f"### Files this pull request changes (`git diff --stat` against"
        f" {inline_code(prompt_input.base_branch)})\n\n"
        + fence(truncate(diff_stat, MAX_DIFF_STAT_CHARS))
    )


def save_prompt(meta_dir: Path, prompt: str) -> Path:
    """Write the prompt to `meta_dir/prompt.md` (atomically) and return that path."""
    meta_dir.mkdir(parents=True, exist_ok=True)
    target = meta_dir / PROMPT_FILE_NAME
    handle, temporary_name = tempfile.mkstemp(dir=meta_dir, prefix=".prompt-", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(prompt)
        os.replace(temporary_name, target)
    except BaseException:
        Path(temporary_name).unlink(missing_ok=True)
        raise
    return target
