"""The media engine: audio in from the guest, through the host bridge, audio back out."""
