"""WebSocket signaling: the interview socket's protocol and its endpoint."""
