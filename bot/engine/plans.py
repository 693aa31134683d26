"""YAML work plans: parsing, `{{NAME}}` substitution and rendering as phase checklists."""

from __future__ import annotations

import re
from collections.abc import Mapping

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}")


class PromptError(ValueError):
    """An unknown template, persona or plan, a missing variable or a bad file; one-line message."""


class PlanPhase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    steps: list[str] = Field(min_length=1)


class Plan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    description: str = ""
    variables: list[str] = []
    phases: list[PlanPhase] = Field(min_length=1)


def parse_plan(name: str, text: str) -> Plan:
    """Read a plan from YAML; the file's name is the plan's name unless the file says one."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise PromptError(f"plan {name!r} is not valid YAML: {_yaml_problem(error)}") from None
    if not isinstance(data, dict):
        raise PromptError(f"plan {name!r} must be a YAML mapping with 'phases'")
    data.setdefault("name", name)
    try:
        return Plan.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or 'plan'}: {item['msg']}"
            for item in error.errors()
        )
        raise PromptError(f"plan {name!r} is invalid: {problems}") from None


def _yaml_problem(error: yaml.YAMLError) -> str:
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    mark = getattr(error, "problem_mark", None)
    return f"{problem} (line {mark.line + 1})" if mark is not None else str(problem)


def substitute(text: str, variables: Mapping[str, str], where: str) -> str:
    """Replace each `{{NAME}}` with its value in one pass (values are not expanded again).

    A placeholder without a value is a PromptError naming it and `where` it was found.
    """

    def replace(match: re.Match[str]) -> str:
        variable = match.group(1)
        if variable not in variables:
            raise PromptError(
                f"{where} needs variable {variable!r}: pass var.{variable}=VALUE to /dispatch"
            )
        return variables[variable]

    return PLACEHOLDER.sub(replace, text)


def render_plan(plan: Plan, variables: Mapping[str, str]) -> str:
    """The plan as Markdown: a heading, its description, then each phase as a checklist."""
    where = f"plan {plan.name!r}"
    for required in plan.variables:
        if required not in variables:
            raise PromptError(
                f"{where} needs variable {required!r}: pass var.{required}=VALUE to /dispatch"
            )
    lines = [f"## Plan: {substitute(plan.name, variables, where)}", ""]
    if plan.description.strip():
        lines += [substitute(plan.description.strip(), variables, where), ""]
    lines += [
        "Work through these phases in order and finish each checklist before the next phase."
        " The checklists are for you to follow; do not create files for them.",
        "",
    ]
    for index, phase in enumerate(plan.phases, start=1):
        lines.append(f"### Phase {index}: {substitute(phase.name, variables, where)}")
        lines.append("")
        for step in phase.steps:
            step_text = substitute(step.strip(), variables, where)
            lines.append("- [ ] " + step_text.replace("\n", "\n      "))
        lines.append("")
    return "\n".join(lines).rstrip()
