"""Live config reload (DESIGN §9, §11): SIGHUP, or `python -m bot reload` through a pid file."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from bot.appkeys import SERVICES
from bot.config import ConfigError, ForgeConfig, Settings, load_settings
from bot.logs import get_logger, log_event, reconfigure_logging
from bot.observability.metrics import METRICS, Metrics
from bot.services import Services

logger = get_logger("reload")

PID_FILE_NAME = "bot.pid"
# Sections read once at start-up (the listening socket, the database, the forge clients).
RESTART_SECTIONS = ("server", "database")
# Forge keys that apply live; any other forge change needs a restart.
LIVE_FORGE_KEYS = frozenset({"ignore_users", "allow_users", "deny_users"})


class ReloadError(Exception):
    """No running server can be asked to reload; the message says why."""


@dataclass(frozen=True)
class ReloadResult:
    applied: bool
    changed: tuple[str, ...] = ()  # sections whose new values are now in force
    restart_needed: tuple[str, ...] = ()  # changes kept out until the next start, and why
    error: str | None = None  # why the new configuration was refused


def _merge_forges(old: Settings, new: Settings) -> tuple[list[ForgeConfig], list[str]]:
    """Each old forge, with its live keys from the new file when nothing else changed."""
    new_by_name = {forge.name: forge for forge in new.forges}
    merged: list[ForgeConfig] = []
    notes: list[str] = []
    for forge in old.forges:
        candidate = new_by_name.get(forge.name)
        if candidate is None:
            notes.append(f"forges.{forge.name}: removed; it stays until a restart")
            merged.append(forge)
            continue
        differing = [
            key
            for key in type(forge).model_fields
            if key not in LIVE_FORGE_KEYS and getattr(forge, key) != getattr(candidate, key)
        ]
        if differing:
            notes.append(f"forges.{forge.name}: {', '.join(differing)} changed; restart to apply")
            merged.append(forge)
        else:
            merged.append(candidate)
    old_names = {forge.name for forge in old.forges}
    for forge in new.forges:
        if forge.name not in old_names:
            notes.append(f"forges.{forge.name}: added; restart to use it")
    return merged, notes


def effective_settings(old: Settings, new: Settings) -> tuple[Settings, list[str], list[str]]:
    """What a running server can take from `new`: (settings, sections changed, restart notes)."""
    forges, forge_notes = _merge_forges(old, new)
    notes = [
        f"{section}: changed; restart to apply"
        for section in RESTART_SECTIONS
        if getattr(old, section) != getattr(new, section)
    ] + forge_notes
    update = {section: getattr(old, section) for section in RESTART_SECTIONS}
    effective = new.model_copy(update={**update, "forges": forges})
    changed = [
        section
        for section in type(old).model_fields
        if section not in RESTART_SECTIONS and getattr(old, section) != getattr(effective, section)
    ]
    return effective, changed, notes


def _parts(target: web.Application | Services) -> tuple[Services, Metrics | None]:
    if isinstance(target, web.Application):
        return target[SERVICES], target.get(METRICS)
    return target, None


async def apply_reload(target: web.Application | Services, new_settings: Settings) -> ReloadResult:
    """Put validated new settings in force for what starts next; runs already running go on.

    The services' settings, the dispatcher's `on_busy` and the permission checkers' configs are
    replaced; the scheduler, which reads the limits on every pass, is kicked. Server, database
    and forge connection changes are logged as needing a restart, and the old values stay.
    """
    services, metrics = _parts(target)
    old = services.settings
    effective, changed, notes = effective_settings(old, new_settings)
    services.settings = effective
    services.dispatcher.on_busy = effective.dispatch.on_busy
    for name, checker in services.permission_checkers.items():
        checker.config = effective.permissions
        checker.forge_config = effective.forge(name) or checker.forge_config
    if old.logging != effective.logging:
        reconfigure_logging(effective.logging.format, effective.logging.level)
    if services.scheduler is not None:
        services.scheduler.kick()
    if metrics is not None:
        metrics.observe_reload(applied=True)
    for note in notes:
        log_event(logger, logging.WARNING, "config change needs a restart", change=note)
    log_event(logger, logging.INFO, "config reloaded", changed=",".join(changed) or "nothing")
    return ReloadResult(True, tuple(changed), tuple(notes))


async def reload_from_file(target: web.Application | Services, path: Path) -> ReloadResult:
    """Load `path` and apply it; a configuration that does not load is refused and logged."""
    try:
        new_settings = await asyncio.to_thread(load_settings, path)
    except ConfigError as error:
        reason = str(error)
    except Exception as error:  # noqa: BLE001 - a reload must never take the server down
        logger.exception("config reload failed", extra={"fields": {"path": str(path)}})
        reason = f"{type(error).__name__}: {error}"
    else:
        return await apply_reload(target, new_settings)
    log_event(
        logger,
        logging.ERROR,
        "config reload rejected; the current configuration stays",
        path=str(path),
        reason=reason,
    )
    _, metrics = _parts(target)
    if metrics is not None:
        metrics.observe_reload(applied=False)
    return ReloadResult(False, error=reason)


# -- the pid file and the signal -----------------------------------------------------------------
def pid_file(settings: Settings) -> Path:
    return settings.database.path.parent / PID_FILE_NAME


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _command_line(pid: int) -> str | None:
    """The command line of a process, or None when it cannot be found out here."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        if Path("/proc/self").exists():
            return ""  # Linux, and no such process
    except OSError:
        return None
    try:
        answer = subprocess.run(
            ["ps", "-o", "args=", "-p", str(pid)], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return answer.stdout.strip()


def is_bot_server(pid: int) -> bool:
    """Whether `pid` runs `python -m bot serve` (the pid file may outlive its process)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's
    command = _command_line(pid)
    if command is None:
        return True  # alive; nothing more can be told on this system
    words = command.split()
    return "serve" in words and any("bot" in word for word in words)


def running_server(path: Path) -> int:
    """The pid of the server whose pid file is `path`; ReloadError when there is none."""
    if not path.exists():
        raise ReloadError(f"no running server: {path} does not exist")
    pid = _read_pid(path)
    if pid is None:
        raise ReloadError(f"{path} does not hold a process id")
    if not is_bot_server(pid):
        raise ReloadError(
            f"no running server: {path} names pid {pid}, which is not a running bot server "
            f"(a stale pid file left by a server that did not stop cleanly)"
        )
    return pid


def signal_server(settings: Settings) -> int:
    """Send SIGHUP to the server that uses `settings`' database; return its pid."""
    pid = running_server(pid_file(settings))
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        raise ReloadError(f"no running server: pid {pid} has just exited") from None
    except PermissionError:
        raise ReloadError(f"not permitted to signal the server (pid {pid})") from None
    return pid


def _write_pid_file(path: Path) -> None:
    other = _read_pid(path) if path.exists() else None
    if other is not None and other != os.getpid() and is_bot_server(other):
        log_event(logger, logging.WARNING, "another server uses this database", pid=other)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(f"{os.getpid()}\n")
    temporary.replace(path)


def _remove_pid_file(path: Path) -> None:
    if _read_pid(path) == os.getpid():
        path.unlink(missing_ok=True)


def serve_reloads(config_path: Path) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup_ctx for `serve`: the pid file, and SIGHUP re-reading `config_path`."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        path = pid_file(app[SERVICES].settings)
        _write_pid_file(path)
        loop = asyncio.get_running_loop()
        lock = asyncio.Lock()
        tasks: set[asyncio.Task[ReloadResult]] = set()

        async def reload() -> ReloadResult:
            async with lock:
                return await reload_from_file(app, config_path)

        def on_hangup() -> None:
            log_event(logger, logging.INFO, "SIGHUP: reloading", path=str(config_path))
            task = loop.create_task(reload(), name="config-reload")
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        installed = False
        if hasattr(signal, "SIGHUP"):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signal.SIGHUP, on_hangup)
                installed = True
        try:
            yield
        finally:
            if installed:
                loop.remove_signal_handler(signal.SIGHUP)
            for task in list(tasks):
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            _remove_pid_file(path)

    return context
