"""The dispatch engine: agents, runtimes, workspaces, prompts and the scheduler."""
