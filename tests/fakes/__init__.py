"""In-process fakes of external services, for tests that must not leave the machine."""
