"""What people see and do in chat, whatever the platform: answering the survey page by page,
owners' commands, and the neutral content of every message."""
