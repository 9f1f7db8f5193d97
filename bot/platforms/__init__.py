"""Chat platform adapters behind :class:`bot.platform.ChatPlatform`."""
