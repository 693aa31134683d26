"""Pydantic models for every key of config.yaml (DESIGN §9), with their defaults."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from bot.events import ForgeKind

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,39}$"
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
EnvName = Annotated[str, Field(pattern=ENV_NAME_PATTERN)]
PositiveLimit = Annotated[int, Field(ge=0)]


class Strict(BaseModel):
    """A config section: unknown keys are errors, so typos are caught at start-up."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerConfig(Strict):
    host: str = "0.0.0.0"
    port: int = Field(default=8080, ge=1, le=65535)
    max_body_mb: float = Field(default=25, gt=0, le=1024)
    public_url: str = ""
    admin_token_env: EnvName | None = "BOT_ADMIN_TOKEN"
    # Resolved from admin_token_env by the loader; never written in the file.
    admin_token: SecretStr | None = Field(default=None, exclude=True)

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)


class DatabaseConfig(Strict):
    path: Path = Path("./data/bot.sqlite3")
    # Processed webhook deliveries (with their bodies) are deleted after this many days;
    # None keeps them. Comment de-duplication (no body) is kept either way.
    keep_deliveries_days: float | None = Field(default=30, gt=0)


class ForgeConfig(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    kind: ForgeKind
    url: str = ""
    api_url: str = ""
    token_env: EnvName | None = None
    webhook_secret_env: EnvName
    bot_login: str = ""
    app_id: int | None = None
    private_key_path: Path | None = None
    ignore_users: list[str] = []
    allow_users: list[str] | None = None
    deny_users: list[str] | None = None
    # Resolved by the loader from the *_env variables and the key file.
    token: SecretStr | None = Field(default=None, exclude=True)
    webhook_secret: SecretStr | None = Field(default=None, exclude=True)
    private_key: SecretStr | None = Field(default=None, exclude=True)

    @field_validator("url", "api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _kind_rules(self) -> ForgeConfig:
        if self.kind is ForgeKind.GITHUB:
            if (self.app_id is None) != (self.private_key_path is None):
                raise ValueError("a GitHub App needs both app_id and private_key_path")
            if self.app_id is None and self.token_env is None:
                raise ValueError("GitHub needs token_env (a PAT) or app_id + private_key_path")
        else:
            if not self.url and not self.api_url:
                raise ValueError(f"a {self.kind.value} forge needs url (or api_url)")
            if self.app_id is not None:
                raise ValueError("app_id is only for GitHub")
        return self

    @property
    def effective_api_url(self) -> str:
        from bot.forge.factory import default_api_url

        return self.api_url or default_api_url(self.kind, self.url)


Permission = Literal["read", "write", "admin"]


class PermissionsConfig(Strict):
    min_permission: Permission = "write"
    allow_users: list[str] = []
    deny_users: list[str] = []
    allow_bots: list[str] = []
    on_refuse: Literal["reply", "silent"] = "reply"
    cache_seconds: int = Field(default=300, ge=0)


DEFAULT_LABELS = {
    "agent:codex": "codex",
    "agent:claude": "claude",
    "agent:gemini": "gemini",
    "agent:coderabbit": "coderabbit",
    "agent:local": "local",
    "dispatch": "default",
}


class StateLabelsConfig(Strict):
    enabled: bool = True
    prefix: str = "agent/"


class GitIdentity(Strict):
    name: str = "Agent Bot"
    email: str = "agent-bot@example.org"


class DispatchConfig(Strict):
    default_agent: str = "codex"
    default_template: str = "coding"
    runtime: Literal["auto", "apple", "docker", "podman", "native"] = "auto"
    image: str = "core-dev"
    gpu: bool = False
    global_args: list[str] = []
    extra_args: list[str] = []
    workspace_root: Path = Path("./data/workspaces")
    mirror_root: Path = Path("./data/mirrors")
    templates_dir: Path | None = None
    timeout_minutes: float = Field(default=60, gt=0, le=24 * 60)
    cancel_grace_seconds: float = Field(default=30, ge=0)
    on_busy: Literal["reject", "queue", "supersede"] = "reject"
    git_identity: GitIdentity = GitIdentity()
    pass_env: list[EnvName] = [
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "GEMINI_API_KEY",
        "GOOGLE_API_KEY",
    ]


class PoolLimit(Strict):
    total: PositiveLimit = 0
    models: dict[str, PositiveLimit] = {}


class ConcurrencyConfig(BaseModel):
    """`total` is the global limit; every other key is an agent pool (`codex: 2` or a mapping)."""

    model_config = ConfigDict(frozen=True)

    total: PositiveLimit = 4
    pools: dict[str, PoolLimit] = {}

    @model_validator(mode="before")
    @classmethod
    def _split_pools(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "pools" in data:
            return data
        pools: dict[str, Any] = {}
        for key, value in data.items():
            if key == "total":
                continue
            if isinstance(value, dict):
                models = {k: v for k, v in value.items() if k != "total"}
                pools[key] = {"total": value.get("total", 0), "models": models}
            else:
                pools[key] = {"total": value}
        return {"total": data.get("total", 4), "pools": pools}


class BackoffConfig(Strict):
    failures: int = Field(default=3, ge=1)
    window_seconds: float = Field(default=60, gt=0)
    pause_minutes: float = Field(default=30, ge=0)


class AfterRunConfig(Strict):
    push: bool = True
    open_pr: bool = True
    draft: bool = True
    qa: list[str] = []


class AgentDefinition(Strict):
    """An admin-defined agent, or an override of where a built-in one runs."""

    command: list[str] | None = Field(default=None, min_length=1)
    where: Literal["native", "container"] | None = None
    default_model: str | None = None


class LoggingConfig(Strict):
    format: Literal["keyvalue", "json"] = "keyvalue"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class Settings(Strict):
    server: ServerConfig = ServerConfig()
    database: DatabaseConfig = DatabaseConfig()
    forges: list[ForgeConfig] = []
    permissions: PermissionsConfig = PermissionsConfig()
    labels: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_LABELS))
    state_labels: StateLabelsConfig = StateLabelsConfig()
    dispatch: DispatchConfig = DispatchConfig()
    concurrency: ConcurrencyConfig = ConcurrencyConfig()
    backoff: BackoffConfig = BackoffConfig()
    time_tracking: Literal["auto", "stopwatch", "times", "off"] = "auto"
    after_run: AfterRunConfig = AfterRunConfig()
    agents: dict[str, AgentDefinition] = {}
    logging: LoggingConfig = LoggingConfig()

    @model_validator(mode="after")
    def _cross_checks(self) -> Settings:
        names = [forge.name for forge in self.forges]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"forges: duplicate forge name {duplicates[0]!r}")
        known = self.known_agents()
        for label, agent in self.labels.items():
            if agent != "default" and agent.split(":", 1)[0] not in known:
                raise ValueError(f"labels.{label}: unknown agent {agent!r}")
        if self.dispatch.default_agent.split(":", 1)[0] not in known:
            agent = self.dispatch.default_agent
            raise ValueError(f"dispatch.default_agent: unknown agent {agent!r}")
        for name, definition in self.agents.items():
            if name not in BUILTIN_AGENTS and definition.command is None:
                raise ValueError(f"agents.{name}.command: a new agent needs a command")
        return self

    def known_agents(self) -> frozenset[str]:
        return frozenset(BUILTIN_AGENTS) | frozenset(self.agents)

    def forge(self, name: str) -> ForgeConfig | None:
        return next((forge for forge in self.forges if forge.name == name), None)


BUILTIN_AGENTS = ("codex", "claude", "gemini", "coderabbit", "local")
