# The agent dispatch bot. It runs agents in containers by driving the HOST's runtime through
# its CLI: this image holds the CLI (podman by default; `--build-arg RUNTIME_CLI=docker.io`
# for the docker CLI), never a container engine of its own.
#
#   docker build -t agent-dispatch-bot .
#
# Running it (the admin provides the runtime's socket; nothing here opens one):
#
#   podman run -d --name agent-bot -p 8080:8080 \
#     -v /run/podman/podman.sock:/run/podman/podman.sock \
#     -e CONTAINER_HOST=unix:///run/podman/podman.sock \
#     --group-add "$(stat -c %g /run/podman/podman.sock)" \
#     -v /srv/agent-bot/config.yaml:/app/config.yaml:ro \
#     -v /srv/agent-bot/data:/app/data \
#     -v /srv/agent-bot/workspaces:/srv/agent-bot/workspaces \
#     -e FORGEJO_TOKEN -e FORGEJO_WEBHOOK_SECRET -e OPENAI_API_KEY \
#     agent-dispatch-bot
#
# (docker: `-v /var/run/docker.sock:/var/run/docker.sock -e DOCKER_HOST=unix:///var/run/docker.sock`
# and `--group-add` the socket's group.) Notes for the admin:
# - With CONTAINER_HOST set, `podman` works as a remote client: `dispatch.global_args` such as
#   `--cgroup-manager`/`--runtime` are rejected by it; set those on the host's podman service
#   (`podman --cgroup-manager=cgroupfs system service …` or containers.conf). `extra_args`
#   (`--ulimit`, `--network`, `--memory`) work as usual.
# - The runtime resolves `-v` sources on the HOST: `dispatch.workspace_root` must be mounted at
#   the same absolute path inside this container as on the host (above: /srv/agent-bot/
#   workspaces, set as `workspace_root` in config.yaml). The same holds for agent credential
#   folders under $HOME (e.g. `-v /home/bot/.codex:/home/bot/.codex:ro` with HOME=/home/bot).
# - The bot runs as uid 10001: the socket must be group read-write (docker's root:docker 0660,
#   systemd's podman.socket 0660) and that group added with `--group-add`; or use a rootless
#   podman's socket (/run/user/UID/podman/podman.sock) with `--user UID`.
# - The socket is the bot's only: the agent containers never get it (the bot refuses
#   `extra_args`/`global_args` naming a docker/podman/containerd socket, and mounts only the
#   workspace and read-only credential folders).

FROM python:3.11-slim

ARG RUNTIME_CLI=podman

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates git "${RUNTIME_CLI}" \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY config.example.yaml ./
RUN pip install . \
    && useradd --create-home --home-dir /home/bot --uid 10001 --user-group bot \
    && mkdir -p /app/data \
    && chown bot:bot /app/data

USER bot
ENV HOME=/home/bot
VOLUME ["/app/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
CMD ["python", "-m", "bot", "serve"]
