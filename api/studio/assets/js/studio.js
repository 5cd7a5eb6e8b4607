// The guest's studio (`/`): sign in, set up a session, preview the camera, join, and be
// interviewed: host voice, live transcript, host state, time left, mute, end.
// `/?session=<id>` reopens a session that has not finished (a reload rejoins within 30 s).

import { api, ApiError, currentAuth } from "./api.js";
import { InterviewCall } from "./call.js";
import { Countdown } from "./clock.js";
import { $, say, showView } from "./dom.js";
import { LevelMeter, MediaProblem, audioContext, openCameraAndMicrophone } from "./media.js";
import { signedIn } from "./shell.js";
import { TranscriptLog } from "./transcript.js";

const SPEAKING_LEVEL = 0.02;
const OPEN_STATUSES = new Set(["created", "live"]);
const HOST_STATES = {
  speaking: "Speaking",
  listening: "Listening",
  interrupted: "Interrupted: listening to you",
};

const page = {
  stream: null,
  call: null,
  session: null,
  micMeter: null,
  hostMeter: null,
  transcript: new TranscriptLog($("#transcript")),
  countdown: new Countdown($("#remaining"), $("#time-progress")),
  hostState: "idle",
  synced: false,
  phase: "idle",
  phaseMessage: "Not joined yet",
  interviewState: null,
};
const INTERVIEW_STATES = {
  connecting: "Connected: waiting for your audio…",
  live: "Live",
  ending: "Wrapping up…",
};

async function main() {
  await signedIn();
  $("#loading").hidden = true;
  $("#setup-form").addEventListener("submit", createSession);
  $("#retry-media").addEventListener("click", startPreview);
  $("#join").addEventListener("click", join);
  $("#mute").addEventListener("click", toggleMute);
  $("#camera").addEventListener("click", toggleCamera);
  $("#end").addEventListener("click", () => confirmEnd(true));
  $("#end-no").addEventListener("click", () => confirmEnd(false));
  $("#end-yes").addEventListener("click", endInterview);
  $("#play-host").addEventListener("click", playHost);
  window.addEventListener("pagehide", () => page.call?.leave());
  requestAnimationFrame(showLevels);

  const sessionId = new URLSearchParams(location.search).get("session");
  if (sessionId) {
    try {
      const session = await api(`/sessions/${encodeURIComponent(sessionId)}`);
      if (OPEN_STATUSES.has(session.status)) return enterStudio(session);
      say($("#setup-alert"), "That interview has already taken place: find it in your history.");
    } catch (error) {
      say($("#setup-alert"), error.message, "error");
    }
    history.replaceState(null, "", "/");
  }
  showView($("#setup-view"));
}

async function createSession(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const button = form.querySelector("button[type=submit]");
  const data = new FormData(form);
  const topics = String(data.get("topics") ?? "")
    .split("\n")
    .map((topic) => topic.trim())
    .filter(Boolean);
  const metadata = { topics };
  const name = currentAuth()?.user?.fullName;
  if (name) metadata.guestName = name;
  button.disabled = true;
  say($("#setup-alert"), "");
  try {
    const session = await api("/sessions", {
      method: "POST",
      body: {
        vibe: data.get("vibe"),
        mode: data.get("mode"),
        durationMinutes: Number(data.get("duration")),
        metadata,
      },
    });
    history.replaceState(null, "", `/?session=${session.id}`);
    await enterStudio(session);
  } catch (error) {
    say($("#setup-alert"), error instanceof ApiError ? error.message : String(error), "error");
  } finally {
    button.disabled = false;
  }
}

async function enterStudio(session) {
  page.session = session;
  $("#session-summary").textContent =
    `${session.vibe} · ${session.mode} · ${session.durationMinutes} minutes`;
  $("#remaining").textContent = `${session.durationMinutes}:00`;
  const director = session.mode === "Director Mode";
  $("#director-link").hidden = !director;
  $("#director-anchor").href = `/director/${session.id}`;
  if (session.status === "live") {
    say($("#studio-alert"), "This interview is under way: join to continue where it left off.");
  }
  showView($("#studio-view"));
  await startPreview();
}

async function startPreview() {
  $("#retry-media").hidden = true;
  say($("#studio-alert"), "");
  try {
    const { stream, notice } = await openCameraAndMicrophone();
    page.stream = stream;
    $("#preview").srcObject = stream;
    $("#camera-note").hidden = stream.getVideoTracks().length > 0;
    $("#camera-note").textContent = "No camera: audio only";
    page.micMeter = new LevelMeter(stream);
    if (notice) say($("#studio-alert"), notice);
    $("#join").disabled = false;
  } catch (error) {
    const message = error instanceof MediaProblem ? error.message : String(error);
    say($("#studio-alert"), message, "error");
    $("#retry-media").hidden = false;
    $("#join").disabled = true;
    $("#retry-media").focus();
  }
}

function join() {
  audioContext(); // started by this click, so the host can be heard at once
  const call = new InterviewCall(page.session.id, page.stream);
  page.call = call;
  call.addEventListener("phase", (event) => onPhase(event.detail));
  call.addEventListener("server", (event) => onServerEvent(event.detail));
  call.addEventListener("hostaudio", (event) => onHostAudio(event.detail));
  $("#join").hidden = true;
  for (const id of ["#mute", "#camera", "#end"]) $(id).hidden = false;
  $("#camera").hidden = page.stream.getVideoTracks().length === 0;
  $("#end").focus();
  call.join();
}

let rejoinTimer = null;

/** The connection line: the call's own phase, or once media flows, the interview's. */
function showStatus() {
  const interview = page.phase === "live" ? INTERVIEW_STATES[page.interviewState] : null;
  const text = interview ?? page.phaseMessage;
  const status = $("#call-status");
  if (status.textContent !== text) status.textContent = text; // unchanged: not re-announced
  status.dataset.phase = page.phase;
}

function onPhase({ phase, message, deadline, retry }) {
  page.phase = phase;
  page.phaseMessage = message;
  showStatus();
  clearInterval(rejoinTimer);
  $("#rejoin").hidden = phase !== "reconnecting" || !deadline;
  if (phase === "reconnecting") page.synced = false;
  if (phase === "reconnecting" && deadline) {
    say($("#studio-alert"), "The connection was lost. Rejoining the interview…", "warning");
    const tick = () => {
      const left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
      $("#rejoin-left").textContent = `${left} s left`;
    };
    tick();
    rejoinTimer = setInterval(tick, 1000);
  } else if (phase === "live") {
    say($("#studio-alert"), "");
    if (!page.synced) fillTranscript();
  } else if (phase === "ended" || phase === "failed") {
    finish(message, phase === "ended" ? "info" : "error", retry);
  }
}

/** Lines said while this page was away (a rejoin, a reload) come from the stored ones. */
async function fillTranscript() {
  page.synced = true;
  try {
    page.transcript.merge(await api(`/sessions/${page.session.id}/messages`));
  } catch {
    page.synced = false; // the next reconnection tries again; the live lines go on
  }
}

function finish(message, tone, retry) {
  page.countdown.stop();
  say($("#studio-alert"), message, tone);
  setHostState("idle", retry ? "Waiting for you" : "Done");
  for (const id of ["#mute", "#camera", "#end", "#end-confirm", "#play-host"]) $(id).hidden = true;
  $("#after").hidden = retry;
  if (retry) {
    $("#join").hidden = false; // e.g. open in another tab: closing it there lets this one in
    $("#join").textContent = "Join again";
    $("#join").focus();
  } else {
    for (const track of page.stream?.getTracks() ?? []) track.stop();
  }
  page.call = null;
}

function onServerEvent(event) {
  if (event.type === "state") {
    page.countdown.update(event);
    page.interviewState = event.state;
    showStatus();
  } else if (event.type === "host") {
    setHostState(event.state, HOST_STATES[event.state] ?? event.state);
  } else if (event.type === "transcript") {
    page.transcript.add(event);
  } else if (event.type === "error") {
    say($("#studio-alert"), event.error, "warning");
  }
}

function setHostState(state, label) {
  page.hostState = state;
  $("#host-state").dataset.state = state;
  $("#host-state").textContent = label;
}

function onHostAudio(stream) {
  const audio = $("#host-audio");
  audio.srcObject = stream;
  page.hostMeter?.close();
  page.hostMeter = new LevelMeter(stream);
  audio.play().then(
    () => ($("#play-host").hidden = true),
    () => ($("#play-host").hidden = false), // the browser wants a click before sound plays
  );
}

function playHost() {
  audioContext();
  $("#host-audio").play().then(() => ($("#play-host").hidden = true), () => {});
}

function toggleMute() {
  const button = $("#mute");
  const muted = button.getAttribute("aria-pressed") !== "true";
  for (const track of page.stream.getAudioTracks()) track.enabled = !muted;
  button.setAttribute("aria-pressed", String(muted));
  button.textContent = muted ? "Unmute" : "Mute";
  $("#guest-speaker").textContent = muted ? "You (muted)" : "You";
}

function toggleCamera() {
  const button = $("#camera");
  const off = button.getAttribute("aria-pressed") !== "true";
  for (const track of page.stream.getVideoTracks()) track.enabled = !off;
  button.setAttribute("aria-pressed", String(off));
  button.textContent = off ? "Start camera" : "Stop camera";
  $("#camera-note").textContent = "Camera off";
  $("#camera-note").hidden = !off;
}

function confirmEnd(asking) {
  $("#end").hidden = asking;
  $("#end-confirm").hidden = !asking;
  (asking ? $("#end-no") : $("#end")).focus();
}

function endInterview() {
  $("#end-confirm").hidden = true;
  page.phaseMessage = "Ending…";
  page.interviewState = "ending";
  showStatus();
  page.call?.end();
}

function showLevels() {
  const muted = $("#mute").getAttribute("aria-pressed") === "true";
  const mic = muted ? 0 : (page.micMeter?.level() ?? 0);
  const host = page.call ? (page.hostMeter?.level() ?? 0) : 0;
  $("#mic-level").value = Math.min(1, mic * 4);
  $("#host-level").value = Math.min(1, host * 4);
  const you = mic > SPEAKING_LEVEL;
  const them = host > SPEAKING_LEVEL || page.hostState === "speaking";
  $("#guest-speaker").dataset.active = String(you);
  $("#host-speaker").dataset.active = String(them);
  const speaking = you && them ? "You and the host" : you ? "You" : them ? "The host" : "Nobody";
  if ($("#speaking").textContent !== speaking) $("#speaking").textContent = speaking;
  requestAnimationFrame(showLevels);
}

main();
