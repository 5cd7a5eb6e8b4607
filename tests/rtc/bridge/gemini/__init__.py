"""Tests of the Gemini Live host."""
