"""Settings: every knob of the server, read from the environment or a `.env` file."""

from config.settings import Settings, load_settings

__all__ = ["Settings", "load_settings"]
