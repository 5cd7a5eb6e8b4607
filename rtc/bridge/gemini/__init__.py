"""Gemini Live as the interview host: the asyncio shell (`bridge`) and its sans-I/O parts."""
