"""A plugin that fails on import: the gateway must log it, skip it and start anyway."""

raise RuntimeError("this example plugin is broken on purpose")
