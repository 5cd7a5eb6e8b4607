"""Track recording: every track of an interview streamed to disk, in sync, crash-safe."""
