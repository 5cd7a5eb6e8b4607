"""Real media for tests: speech synthesised offline, as PCM or WAV files."""
