"""Microsoft Teams: the bot endpoint, proactive messages, Adaptive Cards and the app package."""
