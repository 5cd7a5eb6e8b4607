"""Benchmarks of the interview engine that print figures (they are not tests).

Run them from the repository root, e.g. `.venv/bin/python -m bench.latency --help`;
`docs/benchmarks.md` lists every command, what it measures and the figures measured.
"""
