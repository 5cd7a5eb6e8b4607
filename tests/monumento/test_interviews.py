"""The composition root's choices: which sessions' hosts see the guest's camera, and the
settings the Gemini host runs with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from monumento.interviews import SharedTranscriber, bridge_factory, video_policy
from rtc.bridge.brief import HostBrief
from rtc.bridge.gemini.bridge import SEES_GUEST, GeminiLiveBridge
from rtc.bridge.offline.speech import SpeechSynthesizer
from tests.conftest import make_settings


def brief(**metadata: Any) -> HostBrief:
    return HostBrief.of_session("The Historian", "Auto-Pilot", 5, metadata)


def test_a_session_may_override_the_setting_but_only_a_gemini_host_sees(tmp_path: Path) -> None:
    def policy(**settings: Any) -> Any:
        return video_policy(make_settings(tmp_path, "sqlite:///unused.db", **settings))

    offline = policy(gemini_send_video=True)
    assert not offline(brief()) and not offline(brief(hostSeesVideo=True))
    off = policy(gemini_api_key="k")
    assert not off(brief()) and off(brief(hostSeesVideo=True))
    on = policy(gemini_api_key="k", gemini_send_video=True)
    assert on(brief()) and not on(brief(hostSeesVideo=False))
    assert on(brief(hostSeesVideo="no"))  # not a boolean: the setting decides


def test_the_gemini_host_is_told_it_sees_when_the_session_says_so(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "sqlite:///unused.db", gemini_api_key="k")
    make = bridge_factory(settings, SpeechSynthesizer(), SharedTranscriber(settings))
    seeing, blind = make(brief(hostSeesVideo=True)), make(brief())
    assert isinstance(seeing, GeminiLiveBridge) and isinstance(blind, GeminiLiveBridge)
    assert SEES_GUEST in str(seeing.live_config().system_instruction)
    assert SEES_GUEST not in str(blind.live_config().system_instruction)


def test_the_rotation_setting_reaches_the_gemini_host(tmp_path: Path) -> None:
    def rotation(**overrides: Any) -> str:
        settings = make_settings(tmp_path, "sqlite:///unused.db", gemini_api_key="k", **overrides)
        bridge = bridge_factory(settings, SpeechSynthesizer(), SharedTranscriber(settings))(brief())
        assert isinstance(bridge, GeminiLiveBridge)
        return bridge.tuning.rotation

    assert rotation() == "make-before-break"
    assert rotation(gemini_rotation="break-before-make") == "break-before-make"
