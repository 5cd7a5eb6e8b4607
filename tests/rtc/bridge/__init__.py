"""Tests of the AI-host bridges."""
