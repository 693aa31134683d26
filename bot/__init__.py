"""The agent dispatch bot: runs AI coding agents from Forgejo, Gitea and GitHub."""
