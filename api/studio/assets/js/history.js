// The caller's interviews (`/history`): each with its transcript, its recording (played
// here, seekable: the media URLs answer byte ranges) and links to download every file.

import { api, ApiError } from "./api.js";
import { $, h, say, showView } from "./dom.js";
import { clock, statusLabel, when } from "./format.js";
import { signedIn } from "./shell.js";

const PAGE_SIZE = 10;
const POLL_MS = 2_000;
const DOWNLOADS = [
  ["video", "Video (MP4)"],
  ["audio", "Podcast audio (M4A)"],
  ["thumbnail", "Thumbnail (JPEG)"],
];
const TRANSCRIPTS = [
  ["txt", "Transcript (text)"],
  ["json", "Transcript with timings (JSON)"],
  ["srt", "Captions (SRT)"],
  ["vtt", "Captions (WebVTT)"],
];
const TRACKS = {
  "guest-audio": "Your microphone (Ogg Opus)",
  "guest-video": "Your camera (VP8 in IVF)",
  "host-audio": "The host's voice (WAV)",
};

let nextPage = 0;

async function main() {
  await signedIn();
  $("#loading").hidden = true;
  showView($("#history-view"));
  $("#more").addEventListener("click", loadPage);
  await loadPage();
}

async function loadPage() {
  $("#more").disabled = true;
  try {
    const page = await api(`/sessions?page=${nextPage}&size=${PAGE_SIZE}`);
    nextPage += 1;
    $("#sessions").append(...page.content.map(sessionItem));
    $("#empty").hidden = page.totalElements > 0;
    $("#more").hidden = page.last;
  } catch (error) {
    say($("#history-alert"), error.message, "error");
  } finally {
    $("#more").disabled = false;
  }
}

function sessionItem(session) {
  const details = h("div", { id: `details-${session.id}`, class: "details", hidden: true });
  const badge = h("span", { class: "badge", dataset: { status: session.status } });
  badge.textContent = statusLabel(session.status);
  const toggle = h(
    "button",
    { type: "button", "aria-expanded": "false", "aria-controls": details.id },
    "Show",
  );
  toggle.addEventListener("click", () => {
    const open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", String(open));
    toggle.textContent = open ? "Hide" : "Show";
    details.hidden = !open;
    if (open) openDetails(session, details, badge);
    else details.replaceChildren();
  });
  return h(
    "li",
    { class: "card session", dataset: { sessionId: session.id } },
    h(
      "div",
      { class: "session-head" },
      h(
        "div",
        {},
        h("h2", {}, session.vibe),
        h(
          "p",
          { class: "meta" },
          `${session.mode} · ${session.durationMinutes} min · `,
          h("time", { datetime: session.createdAt }, when(session.createdAt)),
          " · ",
          badge,
        ),
      ),
      toggle,
    ),
    details,
  );
}

async function openDetails(session, details, badge) {
  const load = String(Number(details.dataset.load ?? 0) + 1); // a newer opening wins
  details.dataset.load = load;
  details.replaceChildren(h("p", { class: "hint" }, "Loading…"));
  try {
    session = await api(`/sessions/${session.id}`);
  } catch (error) {
    details.replaceChildren(h("p", { class: "notice", dataset: { tone: "error" } }, error.message));
    return;
  }
  if (details.dataset.load !== load) return;
  badge.dataset.status = session.status;
  badge.textContent = statusLabel(session.status);
  if (session.status === "created" || session.status === "live") {
    const verb = session.status === "live" ? "is under way" : "has not started yet";
    details.replaceChildren(
      h(
        "p",
        {},
        `This interview ${verb}. `,
        h("a", { href: `/?session=${session.id}` }, "Open it in the studio"),
        ".",
      ),
    );
    return;
  }
  if (session.status === "processing") {
    const percent = Math.round((session.progress ?? 0) * 100);
    details.replaceChildren(
      h("p", { role: "status" }, `Preparing the recording… ${percent} %`),
      h("progress", { max: 1, value: session.progress ?? 0, "aria-label": "Preparation" }),
    );
    setTimeout(() => {
      if (!details.hidden && details.dataset.load === load) openDetails(session, details, badge);
    }, POLL_MS);
    return;
  }
  const [recording, messages] = await Promise.all([
    api(`/sessions/${session.id}/recording`).catch((error) => {
      if (error instanceof ApiError && error.status === 404) return null;
      throw error;
    }),
    api(`/sessions/${session.id}/messages`),
  ]).catch((error) => {
    details.replaceChildren(h("p", { class: "notice", dataset: { tone: "error" } }, error.message));
    return [undefined, undefined];
  });
  if (messages === undefined || details.dataset.load !== load) return;
  const player = recording ? mediaPlayer(recording) : null;
  details.replaceChildren(
    player ?? h("p", { class: "hint" }, "Nothing was recorded for this interview."),
    transcriptList(messages, player),
    recording ? downloads(recording, messages, session) : transcriptDownload(messages, session),
  );
}

function sameOrigin(url) {
  return new URL(url, location.href).origin === location.origin;
}

function mediaPlayer(recording) {
  const { video, audio, thumbnail, transcript } = recording.outputs;
  if (video) {
    const player = h("video", {
      controls: true,
      preload: "metadata",
      playsinline: true,
      src: video,
      poster: thumbnail ?? undefined,
      class: "player",
      "aria-label": "The interview's recording",
    });
    if (transcript?.vtt && sameOrigin(transcript.vtt)) {
      player.append(
        h("track", { kind: "captions", srclang: "en", label: "English", src: transcript.vtt }),
      );
    }
    return player;
  }
  if (audio) {
    return h("audio", {
      controls: true,
      preload: "metadata",
      src: audio,
      class: "player",
      "aria-label": "The interview's audio",
    });
  }
  return null;
}

function transcriptList(messages, player) {
  if (!messages.length) return h("p", { class: "hint" }, "No transcript.");
  const names = { ai: "Host", user: "You" };
  return h(
    "ol",
    { class: "transcript", "aria-label": "Transcript", tabindex: "0" },
    messages.map((message) => {
      const offset = message.relativeOffset;
      const at =
        typeof offset === "number"
          ? player
            ? h(
                "button",
                {
                  type: "button",
                  class: "at link",
                  "aria-label": `Play from ${clock(offset)}`,
                  onclick: () => {
                    player.currentTime = offset / 1000;
                    player.play().catch(() => {});
                  },
                },
                clock(offset),
              )
            : h("time", { class: "at" }, clock(offset))
          : null;
      return h(
        "li",
        { dataset: { role: message.role } },
        h("span", { class: "who" }, names[message.role] ?? message.role),
        at,
        h("span", { class: "said" }, message.text),
      );
    }),
  );
}

function link(url, label) {
  return h("li", {}, h("a", { href: url, download: "", rel: "noopener" }, label));
}

function downloads(recording, messages, session) {
  const items = [];
  for (const [key, label] of DOWNLOADS) {
    if (recording.outputs[key]) items.push(link(recording.outputs[key], label));
  }
  const transcript = recording.outputs.transcript ?? {};
  for (const [key, label] of TRANSCRIPTS) {
    if (transcript[key]) items.push(link(transcript[key], label));
  }
  for (const track of recording.tracks) {
    if (track.url) items.push(link(track.url, TRACKS[track.name] ?? track.name));
  }
  if (!transcript.txt) items.push(...transcriptDownload(messages, session).querySelectorAll("li"));
  return h(
    "div",
    { class: "downloads" },
    h("h3", {}, "Download everything"),
    h("ul", {}, items),
    recording.state === "finalised"
      ? null
      : h("p", { class: "hint" }, "Some files are still being made or could not be made."),
  );
}

function transcriptDownload(messages, session) {
  const names = { ai: "Host", user: "Guest" };
  const text = messages
    .map((m) => `[${clock(m.relativeOffset ?? 0)}] ${names[m.role] ?? m.role}: ${m.text}`)
    .join("\n");
  const url = URL.createObjectURL(new Blob([`${text}\n`], { type: "text/plain" }));
  const anchor = h("a", { href: url, download: `transcript-${session.id}.txt` }, "Transcript (text)");
  return h("div", { class: "downloads" }, h("ul", {}, h("li", {}, anchor)));
}

main();
