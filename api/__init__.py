"""The REST layer under `/api/v1`: auth, sessions, messages, health and the OpenAPI document."""
