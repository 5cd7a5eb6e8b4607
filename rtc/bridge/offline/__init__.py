"""The offline host: a scripted interviewer that speaks with eSpeak NG and hears the guest
with PocketSphinx (or Whisper), with no network at all."""
