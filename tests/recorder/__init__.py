"""Tests of the recorder: track writers, crash repair and finalisation."""
