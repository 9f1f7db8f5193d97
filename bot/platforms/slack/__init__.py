"""Slack: the Web API adapter (``client``), Block Kit rendering (``render``) and the bolt app
that receives events, interactions and slash commands (``app``)."""
