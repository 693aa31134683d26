"""Who may trigger (DESIGN §5): forge permission with a TTL cache, allow/deny lists, bots."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.config.models import ForgeConfig, PermissionsConfig
from bot.forge.protocol import Forge, ForgeError, Permission


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""
    permission: Permission | None = None


def looks_like_bot(login: str, is_bot: bool) -> bool:
    return is_bot or login.lower().endswith("[bot]")


class PermissionChecker:
    """Decides whether an actor may trigger the bot on a repository of one forge."""

    def __init__(
        self,
        config: PermissionsConfig,
        forge_config: ForgeConfig,
        forge: Forge,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.forge_config = forge_config
        self.forge = forge
        self.clock = clock
        self._cache: dict[tuple[str, str], tuple[Permission, float]] = {}

    def _listed(self, login: str, names: list[str] | None) -> bool:
        return login.lower() in {name.lower() for name in names or []}

    async def permission_of(self, repo: str, login: str) -> Permission:
        key = (repo.lower(), login.lower())
        cached = self._cache.get(key)
        if cached and cached[1] > self.clock():
            return cached[0]
        permission = await self.forge.get_collaborator_permission(repo, login)
        self._cache[key] = (permission, self.clock() + self.config.cache_seconds)
        return permission

    async def check(self, repo: str, login: str, is_bot: bool = False) -> Decision:
        deny = [*self.config.deny_users, *(self.forge_config.deny_users or [])]
        allow = [*self.config.allow_users, *(self.forge_config.allow_users or [])]
        if self._listed(login, deny):
            return Decision(False, f"@{login} is on the deny list")
        if looks_like_bot(login, is_bot) and not self._listed(login, self.config.allow_bots):
            return Decision(False, f"@{login} is a bot account and is not in allow_bots")
        if self._listed(login, allow):
            return Decision(True, "on the allow list")
        try:
            permission = await self.permission_of(repo, login)
        except ForgeError as error:
            cause = error.status or "network"
            return Decision(False, f"could not check @{login}'s permission ({cause})")
        required = Permission(self.config.min_permission)
        if permission.rank >= required.rank:
            return Decision(True, permission=permission)
        return Decision(
            False,
            f"@{login} has `{permission.value}` permission on {repo}; "
            f"`{required.value}` or more is needed",
            permission,
        )
