"""Untrusted input from the wire (HTTP bodies, socket frames, the bus), parsed with bounds."""
