// The guest's side of an interview: the interview socket of CONTRACT.md (offer, answer,
// trickled candidates, events) and one RTCPeerConnection per attempt.
//
// A lost connection (the socket closes, the media fails, the server goes quiet) is rejoined
// at once and then every few seconds, for at most REJOIN_WINDOW_MS: the server keeps the
// interview (same clock, same host conversation) for 30 s after a guest drops.
//
// Events (all CustomEvents, the payload in `detail`):
//   "phase"   {phase, message, deadline?, retry?}   joining | live | reconnecting | ended |
//             failed (`retry`: joining again may work, e.g. once another tab lets go)
//   "server"  a server event (state, host, transcript, error), as the contract sends it
//   "hostaudio" the MediaStream carrying the host's voice

import { openSocket, renew, SignedOutError } from "./api.js";

export const REJOIN_WINDOW_MS = 30_000;
const WATCH_EVERY_MS = 5_000;
const QUIET_LIMIT_MS = 25_000;
const DISCONNECTED_GRACE_MS = 5_000;
const END_OF_CANDIDATES = { type: "candidate", candidate: "", sdpMid: "0", sdpMLineIndex: 0 };

export class InterviewCall extends EventTarget {
  #sessionId;
  #stream;
  #attempt = 0;
  #ws = null;
  #pc = null;
  #pending = [];
  #offerSent = false;
  #lastError = null;
  #lastHeard = 0;
  #droppedAt = null;
  #retries = 0;
  #timers = new Set();
  #finished = false;
  #endRequested = false;
  #watchdog = null;
  #token = null;
  #renewed = false;
  #everConnected = false;

  constructor(sessionId, stream) {
    super();
    this.#sessionId = sessionId;
    this.#stream = stream;
    this.onOnline = () => this.#retryNow();
  }

  /** Join the interview (or rejoin it: the server resumes one that is under way). */
  join() {
    window.addEventListener("online", this.onOnline);
    this.#watchdog = setInterval(() => this.#watch(), WATCH_EVERY_MS);
    this.#phase("joining", "Connecting to the studio…");
    this.#connect();
  }

  /** Ask the server to end the interview; it finalises the recording. */
  end() {
    this.#endRequested = true;
    if (!this.#send({ type: "end" })) this.#finish("ended", "You left the interview.");
  }

  /** Leave without ending (the page is closing): a reload within 30 s resumes. */
  leave() {
    this.#finished = true;
    this.#teardown();
    this.#stopTimers();
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  #phase(phase, message, extra = {}) {
    this.#emit("phase", { phase, message, ...extra });
  }

  #later(work, ms) {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      work();
    }, ms);
    this.#timers.add(timer);
    return timer;
  }

  #stopTimers() {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    clearInterval(this.#watchdog);
    window.removeEventListener("online", this.onOnline);
  }

  #send(message) {
    if (this.#ws?.readyState !== WebSocket.OPEN) return false;
    this.#ws.send(JSON.stringify(message));
    return true;
  }

  async #connect() {
    const attempt = ++this.#attempt;
    this.#teardown();
    let opened;
    try {
      opened = await openSocket(`/sessions/${this.#sessionId}/interview`);
    } catch (error) {
      if (error instanceof SignedOutError) this.#finish("failed", error.message);
      else this.#lost();
      return;
    }
    const ws = opened.socket;
    if (attempt !== this.#attempt || this.#finished) {
      ws.close(1000);
      return;
    }
    this.#lastError = null;
    this.#offerSent = false;
    this.#pending = [];
    this.#lastHeard = Date.now();
    this.#token = opened.token;
    this.#ws = ws;
    ws.onopen = () => this.#negotiate(attempt).catch((error) => this.#negotiationFailed(error));
    ws.onmessage = (message) => this.#receive(attempt, message.data);
    ws.onclose = (event) => this.#closed(attempt, event.code);
  }

  async #negotiate(attempt) {
    const pc = new RTCPeerConnection();
    this.#pc = pc;
    for (const track of this.#stream.getTracks()) pc.addTrack(track, this.#stream);
    pc.ontrack = (event) => {
      if (event.track.kind !== "audio") return;
      this.#emit("hostaudio", event.streams[0] ?? new MediaStream([event.track]));
    };
    pc.onicecandidate = (event) => {
      const candidate = event.candidate;
      let message = null;
      if (candidate === null) message = END_OF_CANDIDATES;
      else if (candidate.candidate) {
        message = {
          type: "candidate",
          candidate: candidate.candidate,
          sdpMid: candidate.sdpMid,
          sdpMLineIndex: candidate.sdpMLineIndex,
        };
      }
      if (!message) return;
      if (this.#offerSent) this.#send(message);
      else this.#pending.push(message);
    };
    pc.onconnectionstatechange = () => this.#mediaChanged(attempt, pc);
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    if (attempt !== this.#attempt) return;
    this.#send({ type: "offer", sdp: offer.sdp });
    this.#offerSent = true;
    for (const message of this.#pending.splice(0)) this.#send(message);
  }

  #negotiationFailed(error) {
    this.#finish("failed", `Your browser could not start the call: ${error?.message ?? error}`);
  }

  #mediaChanged(attempt, pc) {
    if (attempt !== this.#attempt || this.#finished) return;
    const state = pc.connectionState;
    if (state === "connected") {
      this.#droppedAt = null;
      this.#retries = 0;
      this.#renewed = false;
      this.#everConnected = true;
      this.#phase("live", "Connected");
    } else if (state === "failed") {
      this.#lost();
    } else if (state === "disconnected") {
      this.#phase("reconnecting", "Your connection is unstable…");
      this.#later(() => {
        if (attempt === this.#attempt && pc.connectionState === "disconnected") this.#lost();
      }, DISCONNECTED_GRACE_MS);
    }
  }

  async #receive(attempt, data) {
    if (attempt !== this.#attempt) return;
    this.#lastHeard = Date.now();
    let event;
    try {
      event = JSON.parse(data);
    } catch {
      return;
    }
    if (event.type === "answer") {
      try {
        await this.#pc.setRemoteDescription({ type: "answer", sdp: event.sdp });
      } catch (error) {
        this.#negotiationFailed(error);
      }
      return;
    }
    if (event.type === "pong") return;
    if (event.type === "error") this.#lastError = event.code;
    if (event.type === "state" && event.state === "ended") {
      this.#emit("server", event);
      this.#finish("ended", "The interview has ended.");
      return;
    }
    this.#emit("server", event);
  }

  async #closed(attempt, code) {
    if (attempt !== this.#attempt || this.#finished) return;
    const problem = this.#lastError;
    if (code === 4401 && !this.#renewed) {
      this.#renewed = true; // once: a token refused right after renewal is no expiry
      try {
        await renew(this.#token);
      } catch (error) {
        this.#finish("failed", error instanceof SignedOutError ? error.message : String(error));
        return;
      }
      this.#connect();
    } else if (code === 4401) {
      this.#finish("failed", "The studio did not accept your sign-in: sign out and in again.");
    } else if (code === 4404) {
      this.#finish("failed", "This session was not found: it may have been deleted.");
    } else if (code === 4403) {
      this.#finish("failed", "This page's address may not connect: add it to CORS_ORIGINS.");
    } else if (code === 4429) {
      this.#finish(
        "failed",
        "Too many connections are open for your account: close other studio tabs, then join again.",
      );
    } else if (code === 4409 && problem === "interview_over") {
      this.#finish("ended", "This interview has already taken place: see it in your history.");
    } else if (code === 4409 && this.#droppedAt === null) {
      this.#finish(
        "failed",
        "This interview is open in another tab or on another device: close it there, then " +
          "join again.",
        true,
      );
    } else if (this.#endRequested) {
      this.#finish("ended", "The interview has ended.");
    } else {
      this.#lost();
    }
  }

  #lost() {
    if (this.#finished) return;
    this.#attempt += 1; // whatever the old attempt still says is ignored from now on
    this.#teardown();
    this.#droppedAt ??= Date.now();
    const deadline = this.#droppedAt + REJOIN_WINDOW_MS;
    if (Date.now() >= deadline) {
      if (this.#everConnected) {
        this.#finish(
          "failed",
          "The connection could not be restored within 30 seconds, so the interview ended. " +
            "What was recorded is in your history.",
        );
      } else {
        this.#finish(
          "failed",
          "The studio cannot be reached. Check your connection, then join again.",
          true,
        );
      }
      return;
    }
    this.#phase("reconnecting", "Connection lost. Reconnecting…", { deadline });
    const delay = Math.min(1000 * 2 ** this.#retries, 4000);
    this.#retries += 1;
    this.#later(() => this.#connect(), this.#retries === 1 ? 250 : delay);
  }

  #retryNow() {
    if (this.#droppedAt === null || this.#finished) return;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#connect();
  }

  #watch() {
    if (this.#finished || this.#ws?.readyState !== WebSocket.OPEN) return;
    if (Date.now() - this.#lastHeard > QUIET_LIMIT_MS) {
      this.#lost(); // the socket looks open but nothing arrives: start again
      return;
    }
    this.#send({ type: "ping" });
  }

  #teardown() {
    const ws = this.#ws;
    this.#ws = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = null;
      if (ws.readyState <= WebSocket.OPEN) ws.close(1000);
    }
    const pc = this.#pc;
    this.#pc = null;
    if (pc) {
      pc.ontrack = pc.onicecandidate = pc.onconnectionstatechange = null;
      pc.close();
    }
  }

  #finish(phase, message, retry = false) {
    if (this.#finished) return;
    this.#finished = true;
    this.#teardown();
    this.#stopTimers();
    this.#phase(phase, message, { retry });
  }
}
