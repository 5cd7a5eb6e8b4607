"""AI-host bridges: one interface (`HostBridge`), a Gemini Live and an offline implementation."""
