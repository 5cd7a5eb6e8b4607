"""Tests of the offline host."""
