"""Transport and composition root: settings, chat platforms, scheduler, CLI, web server."""
