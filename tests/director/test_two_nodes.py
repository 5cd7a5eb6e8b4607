"""Director mode across nodes as deployed: two `monumento serve` processes, one PostgreSQL,
one Redis; the guest's media on one, the director on the other."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from config import Settings
from store.database import Database
from store.director_notes import DirectorNoteStore
from tests.conftest import REDIS_URL
from tests.director.test_director_socket import NOTE, director_url, live_interview
from tests.live_server import serve_process
from tests.rtc.guest_client import GuestClient

EVENT_TYPES = ("state", "host", "transcript")


async def test_two_server_processes_share_an_interview_through_redis(
    tmp_path: Path, empty_postgres: str
) -> None:
    """The issue's deployment: `monumento serve` twice, one PostgreSQL, one Redis."""
    common = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))}
    common |= {
        "DATABASE_URL": empty_postgres,
        "REDIS_URL": REDIS_URL,
        "REDIS_KEY_PREFIX": f"monumento-test-{uuid.uuid4().hex[:8]}",
        "JWT_SECRET": "two-nodes-share-this-secret-0123456789abcdef0123456789",
        "PASSWORD_HASH_TIME_COST": "1",
        "PASSWORD_HASH_MEMORY_KIB": "1024",
        "MIGRATE_ON_START": "false",
        "RTC_HOST_ADDRESSES": "127.0.0.1",
        "INTERVIEW_MINUTE_SECONDS": "12",
        "LOG_JSON": "false",
    }
    node_a = common | {"NODE_ID": "a", "DATA_DIR": str(tmp_path / "a")}
    node_b = common | {"NODE_ID": "b", "DATA_DIR": str(tmp_path / "b")}
    async with serve_process(node_a) as a, serve_process(node_b) as b:
        guest, token, session_id = await live_interview(a, topics=["the harbour"])
        director = GuestClient(director_url(b, session_id, token))
        try:
            await director.connect()
            opening = await director.wait_for(lambda e: e["type"] == "transcript")
            assert opening["role"] == "ai"  # the transcript so far, read from node a's lines
            await director.send({"type": "topics", "topics": ["the lighthouse"], "id": "t"})
            await director.wait_for(lambda e: e.get("id") == "t" and e["type"] == "ack")
            before = len(guest.events)
            await director.send({"type": "inject", "text": NOTE, "id": "far", "now": True})
            await director.wait_for(lambda e: e.get("id") == "far" and e["type"] == "ack")
            said = await guest.wait_for(
                lambda e: e["type"] == "transcript" and NOTE in e["text"] and e["final"],
                after=before,
            )
            seen = await director.wait_for(
                lambda e: e["type"] == "transcript" and NOTE in e["text"] and e["final"]
            )
            assert seen == said
            await guest.send({"type": "end"})
            await director.wait_for(lambda e: e["type"] == "state" and e["state"] == "ended")
            # Node b saw node a's events from when it connected, in node a's order, none lost.
            replayed = 0  # the transcript so far comes first
            while director.events[replayed]["type"] == "transcript":
                replayed += 1
            relayed = [e for e in director.events[replayed:] if e["type"] in EVENT_TYPES]
            sent = [e for e in guest.events if e["type"] in EVENT_TYPES]
            assert relayed and any(
                sent[i : i + len(relayed)] == relayed for i in range(len(sent))
            ), (relayed, sent)
        finally:
            await director.close()
            await guest.close()
    database = Database(Settings(database_url=empty_postgres).resolved_database_url)
    try:
        notes = await DirectorNoteStore(database).all(uuid.UUID(session_id))
    finally:
        await database.close()
    assert [(n.kind, n.text) for n in notes] == [("topics", "the lighthouse"), ("inject", NOTE)]
