"""Default templates of the built-in connectors, shipped inside the wheel (read with importlib.resources)."""
