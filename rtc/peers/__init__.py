"""WebRTC peers: one aiortc connection per guest, and the tracks it carries."""
