"""The web server: the Slack and Teams endpoints, /healthz, and /files/ (the expiring links
of bot.files)."""
