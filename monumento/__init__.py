"""Monumento's composition root: builds the app from the packages and runs it."""
