"""Tests of the media engine (`rtc`)."""
