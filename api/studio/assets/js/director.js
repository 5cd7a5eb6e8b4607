// The director's console (`/director/{sessionId}`): the live transcript, the host's state,
// the time left, notes for the host ("Send" or "Ask now") and the topic list, over the
// director socket of CONTRACT.md. It waits for the interview to go live and reconnects
// after a drop (the server replays the transcript so far on every connection).

import { api, openSocket, renew, SignedOutError } from "./api.js";
import { Countdown } from "./clock.js";
import { $, h, say, showView } from "./dom.js";
import { signedIn } from "./shell.js";
import { TranscriptLog } from "./transcript.js";

const WAIT_FOR_LIVE_MS = 3_000;
const MAX_RETRY_MS = 5_000;
const OVER = new Set(["processing", "ready", "failed"]);
const HOST_STATES = { speaking: "Speaking", listening: "Listening", interrupted: "Interrupted" };
const INTERVIEW_STATES = {
  connecting: "Guest connecting",
  live: "Live",
  ending: "Wrapping up",
  ended: "Ended",
};

const sessionId = decodeURIComponent(location.pathname.split("/").filter(Boolean)[1] ?? "");
const desk = {
  ws: null,
  token: null,
  retries: 0,
  renewed: false,
  ended: false,
  lastError: null,
  topics: [],
  transcript: new TranscriptLog($("#transcript"), { ai: "Host", user: "Guest" }),
  countdown: new Countdown($("#remaining"), $("#time-progress")),
};

function newId() {
  return crypto.randomUUID?.() ?? `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}

async function main() {
  await signedIn();
  $("#loading").hidden = true;
  showView($("#console-view"));
  $("#session-summary").textContent = `Session ${sessionId.slice(0, 8)}`;
  $("#note-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sendNote(false);
  });
  $("#ask-now").addEventListener("click", () => sendNote(true));
  $("#note").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      sendNote(false);
    }
  });
  $("#topic-form").addEventListener("submit", addTopic);
  $("#send-topics").addEventListener("click", sendTopics);
  try {
    const session = await api(`/sessions/${encodeURIComponent(sessionId)}`);
    $("#session-summary").textContent =
      `${session.vibe} · ${session.mode} · ${session.durationMinutes} minutes`;
    const topics = session.metadata?.topics;
    desk.topics = Array.isArray(topics) ? topics.map(String) : [];
    if (OVER.has(session.status)) return over("This interview has already taken place.");
  } catch {
    // A director who does not own the session cannot read it: the socket still works.
  }
  renderTopics();
  connect();
}

function setReady(ready) {
  for (const id of ["#send-note", "#ask-now", "#send-topics"]) $(id).disabled = !ready;
}

async function connect() {
  let opened;
  try {
    opened = await openSocket(`/sessions/${encodeURIComponent(sessionId)}/director`);
  } catch (error) {
    if (!(error instanceof SignedOutError)) retry("The server cannot be reached. Retrying…");
    return;
  }
  desk.token = opened.token;
  desk.lastError = null;
  const ws = opened.socket;
  desk.ws = ws;
  ws.onmessage = (message) => receive(JSON.parse(message.data));
  ws.onclose = (event) => closed(event.code);
}

function receive(event) {
  if (event.type === "error") {
    desk.lastError = event.code;
    if (event.id !== undefined) markNote(String(event.id), "refused", event.error);
    else if (!["not_live", "not_found", "unauthorized"].includes(event.code)) {
      say($("#console-alert"), event.error, "warning");
    }
    return;
  }
  if (!desk.ws?.ready) {
    // The first event of an accepted connection: the transcript so far comes again.
    desk.ws.ready = true;
    desk.retries = 0;
    desk.renewed = false;
    desk.transcript.clear();
    say($("#console-alert"), "");
    $("#link-status").textContent = "Connected";
    setReady(true);
  }
  if (event.type === "transcript") desk.transcript.add(event);
  else if (event.type === "state") {
    desk.countdown.update(event);
    $("#interview-state").textContent = INTERVIEW_STATES[event.state] ?? event.state;
    if (event.state === "ended") desk.ended = true;
  } else if (event.type === "host") {
    $("#host-state").dataset.state = event.state;
    $("#host-state").textContent = HOST_STATES[event.state] ?? event.state;
  } else if (event.type === "ack") {
    if (event.id === desk.topicsId) {
      $("#topics-status").textContent = "The host has the new list.";
    } else markNote(String(event.id), "acked", "The host has it");
  }
}

async function closed(code) {
  desk.ws = null;
  setReady(false);
  for (const item of $("#notes").querySelectorAll("[data-state=sending]")) {
    setNoteState(item, "lost", "Not confirmed: send it again if the host missed it");
  }
  if (desk.ended) return over("The interview has ended.");
  if (code === 4404) {
    return over("This session was not found, or your account may not direct it.", "error");
  }
  if (code === 4403) {
    return over("This page's address may not connect: add it to CORS_ORIGINS.", "error");
  }
  if (code === 4429) {
    return over(
      "Too many consoles or connections are open: close one in another tab, then reload.",
      "error",
    );
  }
  if (code === 4401) {
    if (desk.renewed) return over("The console did not accept your sign-in.", "error");
    desk.renewed = true;
    try {
      await renew(desk.token);
    } catch {
      return; // signed out: the sign-in form is shown
    }
    return connect();
  }
  if (code === 4409) {
    $("#link-status").textContent = "Waiting for the interview to start…";
    $("#interview-state").textContent = "Not live";
    if (await interviewIsOver()) return over("This interview has already taken place.");
    setTimeout(connect, WAIT_FOR_LIVE_MS);
    return;
  }
  retry("The connection to the console was lost. Reconnecting…");
}

function retry(message) {
  say($("#console-alert"), message, "warning");
  $("#link-status").textContent = "Reconnecting…";
  const delay = Math.min(500 * 2 ** desk.retries, MAX_RETRY_MS);
  desk.retries += 1;
  setTimeout(connect, delay);
}

async function interviewIsOver() {
  try {
    return OVER.has((await api(`/sessions/${encodeURIComponent(sessionId)}`)).status);
  } catch {
    return false;
  }
}

function over(message, tone = "info") {
  desk.countdown.stop();
  setReady(false);
  $("#link-status").textContent = "Closed";
  say($("#console-alert"), message, tone);
}

function sendNote(now) {
  const note = $("#note");
  const text = note.value.trim();
  if (!text) {
    note.value = "";
    $("#note-form").reportValidity();
    return;
  }
  const ws = desk.ws;
  if (!ws?.ready) return;
  const id = newId();
  ws.send(JSON.stringify({ type: "inject", text, id, now }));
  const item = h(
    "li",
    { dataset: { id } },
    h("span", { class: "kind" }, now ? "Ask now" : "Note"),
    h("span", { class: "text" }, text),
    h("span", { class: "state" }),
  );
  setNoteState(item, "sending", "Sending…");
  $("#notes").prepend(item);
  note.value = "";
  note.focus();
}

function markNote(id, state, label) {
  const item = $("#notes").querySelector(`[data-id="${CSS.escape(id)}"]`);
  if (item) setNoteState(item, state, label);
}

function setNoteState(item, state, label) {
  item.dataset.state = state;
  item.querySelector(".state").textContent = label;
}

function addTopic(event) {
  event.preventDefault();
  const input = $("#new-topic");
  const topic = input.value.trim();
  if (!topic) return;
  desk.topics.push(topic);
  input.value = "";
  renderTopics();
  topicsChanged();
  input.focus();
}

function topicsChanged() {
  $("#topics-status").textContent = "Changed: send the list to the host.";
}

function moveTopic(index, by) {
  const topics = desk.topics;
  const to = index + by;
  if (to < 0 || to >= topics.length) return;
  [topics[index], topics[to]] = [topics[to], topics[index]];
  renderTopics();
  topicsChanged();
  $("#topics").children[to]?.querySelector(by < 0 ? ".up" : ".down")?.focus();
}

function removeTopic(index) {
  desk.topics.splice(index, 1);
  renderTopics();
  topicsChanged();
  $("#new-topic").focus();
}

function renderTopics() {
  const items = desk.topics.map((topic, index) =>
    h(
      "li",
      {},
      h("span", { class: "text" }, topic),
      h(
        "span",
        { class: "row-buttons" },
        h(
          "button",
          { type: "button", class: "quiet up", "aria-label": `Move “${topic}” up`, onclick: () => moveTopic(index, -1) },
          "↑",
        ),
        h(
          "button",
          { type: "button", class: "quiet down", "aria-label": `Move “${topic}” down`, onclick: () => moveTopic(index, 1) },
          "↓",
        ),
        h(
          "button",
          { type: "button", class: "quiet", "aria-label": `Remove “${topic}”`, onclick: () => removeTopic(index) },
          "Remove",
        ),
      ),
    ),
  );
  if (!items.length) items.push(h("li", { class: "empty" }, "No topics: the host follows its own questions."));
  $("#topics").replaceChildren(...items);
}

function sendTopics() {
  const ws = desk.ws;
  if (!ws?.ready) return;
  desk.topicsId = newId();
  ws.send(JSON.stringify({ type: "topics", topics: desk.topics, id: desk.topicsId }));
  $("#topics-status").textContent = "Sending…";
}

main();
