"""A tiny local podman image (busybox-static and a fake `codex`) built without any registry."""

from __future__ import annotations

import shutil
import struct
import subprocess
import tarfile
from pathlib import Path

IMAGE = "localhost/agent-dispatch-test:latest"
LABEL = "agent-dispatch-test=true"  # on the image, so on every container made from any build
# What podman needs on the CI machines (cgroup v1 without systemd, runc rather than crun).
GLOBAL_ARGS = ["--cgroup-manager=cgroupfs", "--runtime=runc"]
RUN_ARGS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")
RECORD = "agent-record.txt"
BLOCKED_QUESTION = "Which README do you mean?"

# The agent. Its last argument is the prompt, which holds the task, and the task says what
# to do: `mode-sleep` (until killed), `mode-blocked` (ask a question), `mode-exit-3`, or else
# leave a note in the checkout and a final message where `codex -o` would.
AGENT_SCRIPT = f"""#!/bin/sh
for prompt; do :; done
record=/workspace/.meta/{RECORD}
{{
  echo "pwd=$(pwd)"
  echo "argc=$#"
  index=1
  for argument; do
    [ "$index" -lt "$#" ] && echo "arg=$argument"
    index=$((index + 1))
  done
  ls -a /workspace/repo | sed 's/^/repo=/'
  ls -d /home/agent/.codex 2>/dev/null | sed 's/^/mount=/'
  touch /home/agent/.codex/probe 2>/dev/null && echo "credentials=writable" \
    || echo "credentials=read-only"
  env | sed 's/^/env=/'
}} > "$record.partial"
printf '%s' "$prompt" > /workspace/.meta/agent-prompt.txt
mv "$record.partial" "$record"
case "$prompt" in
  *mode-nap*) sleep 3; echo "written after a nap" > agent-note.txt ;;
  *mode-sleep*) echo "agent sleeping"; sleep 300 ;;
  *mode-blocked*) echo '{BLOCKED_QUESTION}' > BLOCKED.md ;;
  *mode-exit-3*) echo "agent failing"; exit 3 ;;
  *) echo "written in the container" > agent-note.txt
     echo "final message: done" > ../.meta/agent-codex.log
     echo "agent done" ;;
esac
"""


class PodmanUnavailable(RuntimeError):
    """Podman cannot run a container on this machine (the reason is podman's own words)."""


def podman(*arguments: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`podman GLOBAL_ARGS ARGUMENTS…`, output captured, never raising on a non-zero exit."""
    return subprocess.run(
        ["podman", *GLOBAL_ARGS, *arguments],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def is_static_elf(path: Path) -> bool:
    """True for an ELF executable without a program interpreter (PT_INTERP), i.e. static."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2:  # 64-bit only, as on the CI machines
        return False
    order = "<" if data[5] == 1 else ">"
    phoff = struct.unpack_from(order + "Q", data, 0x20)[0]
    entry_size, count = struct.unpack_from(order + "HH", data, 0x36)
    kinds = (struct.unpack_from(order + "I", data, phoff + i * entry_size)[0] for i in range(count))
    return 3 not in kinds


def static_busybox() -> Path:
    for candidate in map(Path, BUSYBOX_CANDIDATES):
        if candidate.is_file() and is_static_elf(candidate):
            return candidate
    raise PodmanUnavailable("no static busybox (apt-get install busybox-static)")


def build_rootfs(root: Path) -> Path:
    """A root filesystem: busybox with all its applets in /bin, `codex` in /usr/local/bin."""
    busybox = static_busybox()
    applets = subprocess.run(
        [str(busybox), "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    for folder in ("bin", "usr/local/bin", "tmp", "etc", "home/agent", "workspace"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    shutil.copy2(busybox, root / "bin" / "busybox")
    for applet in applets:
        if applet != "busybox" and not (root / "bin" / applet).exists():
            (root / "bin" / applet).symlink_to("busybox")
    (root / "tmp").chmod(0o1777)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    agent = root / "usr" / "local" / "bin" / "codex"
    agent.write_text(AGENT_SCRIPT)
    agent.chmod(0o755)
    return root


def build_image(work: Path, image: str = IMAGE) -> str:
    """Import the root filesystem as `image` and check that a container of it runs."""
    if shutil.which("podman") is None:
        raise PodmanUnavailable("podman is not installed (apt-get install podman runc)")
    root = build_rootfs(work / "rootfs")
    archive = work / "rootfs.tar"
    with tarfile.open(archive, "w") as tar:
        for child in sorted(root.iterdir()):
            tar.add(child, arcname=child.name)
    imported = podman("import", "--quiet", "--change", f"LABEL {LABEL}", str(archive), image)
    if imported.returncode != 0:
        raise PodmanUnavailable(f"podman import failed: {imported.stderr.strip()}")
    probe = podman("run", "--rm", *RUN_ARGS, image, "sh", "-c", "echo probe-ok")
    if probe.returncode != 0 or "probe-ok" not in probe.stdout:
        remove_image(image)
        raise PodmanUnavailable(f"podman cannot run a container here: {probe.stderr.strip()}")
    return image


def remove_test_containers() -> None:
    """Remove containers of the test image only (never another container on this machine)."""
    listed = podman("ps", "--all", "--quiet", "--filter", f"label={LABEL}")
    identifiers = listed.stdout.split() if listed.returncode == 0 else []
    if identifiers:
        podman("rm", "--force", *identifiers)


def remove_image(image: str = IMAGE) -> None:
    remove_test_containers()
    podman("rmi", "--force", image)


def container_exists(name: str) -> bool:
    return podman("container", "exists", name).returncode == 0


def running_names() -> list[str]:
    listed = podman("ps", "--filter", f"label={LABEL}", "--format", "{{.Names}}")
    return listed.stdout.split()


def parse_record(text: str) -> dict[str, list[str]]:
    """The agent's record: `key=value` lines, grouped by key (in order)."""
    record: dict[str, list[str]] = {}
    for line in text.splitlines():
        key, separator, value = line.partition("=")
        if separator:
            record.setdefault(key, []).append(value)
    return record
