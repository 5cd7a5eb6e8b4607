"""What the Gemini Live bridge did to keep an interview going: its stats and Prometheus metrics.

`GeminiStats` is one bridge's record (`GeminiLiveBridge.stats` hands out a copy), for the
engine to store with the session. The Prometheus metrics are process-wide, for dashboards
and alerts. `BridgeMetrics` updates both from the same calls. Sample counters reach
Prometheus at each switch of connection and at close (not per 60 ms message).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from prometheus_client import Counter, Histogram

from rtc.bridge.gemini.connection import SwitchKind
from rtc.bridge.gemini.uplink import AudioUplink

SampleFate = Literal["sent", "replayed", "withheld", "dropped"]
FATES: tuple[SampleFate, ...] = ("sent", "replayed", "withheld", "dropped")

SWITCHES = Counter(
    "monumento_gemini_switches",
    "Gemini Live connections switched to: rotated (after a goAway), resumed (after a loss, "
    "same session) or restarted (a fresh session seeded with a summary).",
    ["kind"],
)
FORCED_ROTATIONS = Counter(
    "monumento_gemini_forced_rotations",
    "Rotations that could not wait for a turn boundary (the goAway deadline came first).",
)
LOSSES = Counter(
    "monumento_gemini_connection_losses",
    "Gemini Live connections lost without a goAway (1011, network errors, plain closes).",
)
CONNECT_FAILURES = Counter(
    "monumento_gemini_connect_failures",
    "Failed connection attempts: refused (resumption handle refused, 1007), overlap (a "
    "second socket of the session refused, 1011: rotations become break-before-make) or "
    "error.",
    ["reason"],
)
GUEST_SAMPLES = Counter(
    "monumento_gemini_guest_samples",
    "Guest audio samples (16 kHz) by fate: sent, replayed (sent again to a session resumed "
    "from an earlier handle), withheld by cost control, or dropped from a full backlog.",
    ["fate"],
)
VIDEO_FRAMES = Counter(
    "monumento_gemini_video_frames",
    "Stills of the guest's camera by fate: sent, or skipped (no connection took input at the "
    "time, or cost control had paused the stream).",
    ["fate"],
)
SWITCH_SECONDS = Histogram(
    "monumento_gemini_switch_seconds",
    "From audio stopping on the old connection to the new one having taken all held audio.",
    ["kind"],
    buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0),
)
GO_AWAY_TO_SWITCH_SECONDS = Histogram(
    "monumento_gemini_go_away_to_switch_seconds",
    "From a goAway to the switch completing, waiting for a turn boundary included.",
    buckets=(0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 45.0, 60.0),
)
BACKLOG_SAMPLES = Histogram(
    "monumento_gemini_backlog_samples",
    "Guest audio samples held during a switch and sent on the new connection.",
    buckets=(0, 1_600, 8_000, 16_000, 48_000, 160_000, 480_000, 960_000),
)


@dataclass(slots=True)
class GeminiStats:
    """One bridge's connection history in numbers, for the session's metadata and metrics."""

    connections: int = 0
    """Connections opened, the first one included."""
    rotations: int = 0
    """Switches to a new connection after a goAway, resuming the same session."""
    forced_rotations: int = 0
    """Rotations (counted in `rotations`) that did not wait for a turn boundary."""
    rotation_max_s: float = 0.0
    """The longest rotation: audio stopped on the old connection → the new one took it all."""
    rotation_total_s: float = 0.0
    go_away_to_switch_max_s: float = 0.0
    """The longest time from a goAway to its switch completing (turn-boundary wait included)."""
    connection_losses: int = 0
    """Connections lost without a goAway (1011, a network error, a plain close)."""
    resumes: int = 0
    """Reconnections after a loss that resumed the same session."""
    restarts: int = 0
    """Fresh sessions seeded with a summary (no usable handle, or it was refused)."""
    outage_max_s: float = 0.0
    """The longest loss-to-recovery time (resumes and restarts), measured like a rotation."""
    outage_total_s: float = 0.0
    refused_handles: int = 0
    refused_overlaps: int = 0
    """Make-before-break rotations the service refused (it allows one socket a session)."""
    failed_attempts: int = 0
    """Connection attempts that failed (refused handles included)."""
    samples_given: int = 0
    """Guest samples the engine handed over."""
    samples_sent: int = 0
    """Guest samples sent to the service (the first time)."""
    samples_replayed: int = 0
    """Guest samples sent again, to sessions resumed from a handle that predates them."""
    samples_withheld: int = 0
    """Guest samples cost control did not send (silence)."""
    samples_buffered: int = 0
    """Guest samples held during switches and sent on the new connection."""
    samples_dropped: int = 0
    """Guest samples never sent: the backlog was full, or they were still held at close."""
    backlog_max_samples: int = 0
    """The deepest the backlog of guest audio has been."""
    stream_ends: int = 0
    """`audioStreamEnd` messages sent (cost control pausing the stream)."""
    video_frames_sent: int = 0
    """Stills of the guest's camera sent (JPEG, at most one a second)."""
    video_frames_skipped: int = 0
    """Stills not sent: a switch of connection was under way, or the stream was paused."""


class BridgeMetrics:
    """Keeps one bridge's `GeminiStats` and the process-wide metrics in step."""

    def __init__(self) -> None:
        """Fresh stats; the Prometheus metrics are shared by all bridges."""
        self._stats = GeminiStats()
        self._reported: dict[SampleFate, int] = dict.fromkeys(FATES, 0)

    def snapshot(self) -> GeminiStats:
        """A copy of the stats as they are now."""
        return replace(self._stats)

    def connected(self) -> None:
        """A connection opened."""
        self._stats.connections += 1

    def connect_failed(self, reason: Literal["refused", "overlap", "error"]) -> None:
        """A connection attempt failed: its resumption handle was `refused`, the service
        refused an `overlap` with the session's open socket, or another `error`."""
        self._stats.failed_attempts += 1
        self._stats.refused_handles += reason == "refused"
        self._stats.refused_overlaps += reason == "overlap"
        CONNECT_FAILURES.labels(reason).inc()

    def lost(self) -> None:
        """The active connection was lost without a goAway."""
        self._stats.connection_losses += 1
        LOSSES.inc()

    def switched(
        self,
        kind: SwitchKind,
        *,
        forced: bool,
        seconds: float,
        since_go_away: float | None,
        backlog: int,
    ) -> None:
        """A switch to a new connection completed in `seconds`, sending `backlog` samples."""
        stats = self._stats
        if kind == "opened":
            return
        SWITCHES.labels(kind).inc()
        SWITCH_SECONDS.labels(kind).observe(seconds)
        BACKLOG_SAMPLES.observe(backlog)
        stats.samples_buffered += backlog
        if kind == "rotated":
            stats.rotations += 1
            stats.forced_rotations += forced
            FORCED_ROTATIONS.inc(forced)
            stats.rotation_total_s += seconds
            stats.rotation_max_s = max(stats.rotation_max_s, seconds)
        else:
            if kind == "resumed":
                stats.resumes += 1
            else:
                stats.restarts += 1
            stats.outage_total_s += seconds
            stats.outage_max_s = max(stats.outage_max_s, seconds)
        if since_go_away is not None:
            GO_AWAY_TO_SWITCH_SECONDS.observe(since_go_away)
            stats.go_away_to_switch_max_s = max(stats.go_away_to_switch_max_s, since_go_away)

    def video(self, *, sent: bool) -> None:
        """A still of the guest was sent, or skipped."""
        if sent:
            self._stats.video_frames_sent += 1
        else:
            self._stats.video_frames_skipped += 1
        VIDEO_FRAMES.labels("sent" if sent else "skipped").inc()

    def samples(self, uplink: AudioUplink) -> None:
        """Take the uplink's counters; their growth since last time goes to Prometheus."""
        stats = self._stats
        stats.samples_given = uplink.samples_given
        stats.samples_sent = uplink.samples_sent
        stats.samples_replayed = uplink.samples_replayed
        stats.samples_withheld = uplink.samples_withheld
        stats.samples_dropped = uplink.samples_dropped
        stats.backlog_max_samples = uplink.max_queued_samples
        stats.stream_ends = uplink.stream_ends
        totals: dict[SampleFate, int] = {
            "sent": stats.samples_sent,
            "replayed": stats.samples_replayed,
            "withheld": stats.samples_withheld,
            "dropped": stats.samples_dropped,
        }
        for fate, total in totals.items():
            GUEST_SAMPLES.labels(fate).inc(max(0, total - self._reported[fate]))
            self._reported[fate] = max(total, self._reported[fate])


def stats_report(stats: GeminiStats) -> dict[str, Any]:
    """The stats as JSON for the session's metadata: camelCase keys, times in ms."""
    report: dict[str, Any] = {}
    for name, value in asdict(stats).items():
        if name.endswith("_s"):
            name, value = f"{name[:-2]}_ms", round(value * 1000)
        head, *rest = name.split("_")
        report[head + "".join(word.capitalize() for word in rest)] = value
    return report
