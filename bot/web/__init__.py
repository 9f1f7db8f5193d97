"""The web server: the Slack and Teams endpoints, /healthz, and expiring file links."""
