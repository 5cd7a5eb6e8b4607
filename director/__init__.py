"""Director mode: operators watch the live transcript and steer the host, from any node."""
