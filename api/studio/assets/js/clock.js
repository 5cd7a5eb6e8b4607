// The interview's remaining time, from the server's `state` events (once a second while
// live), counted down smoothly in between.

import { clock } from "./format.js";

const TICK_MS = 250;
const LAST_MINUTE_MS = 60_000;

export class Countdown {
  /** `output` shows the time left; `progress` (optional) how far the interview is. */
  constructor(output, progress = null) {
    this.output = output;
    this.progress = progress;
    this.timer = null;
    this.last = null;
  }

  /** Take a `state` event: {state, elapsedMs, remainingMs}. */
  update(event) {
    this.last = { ...event, at: performance.now() };
    const running = event.state === "live";
    if (running && !this.timer) this.timer = setInterval(() => this.#render(), TICK_MS);
    if (!running) this.stop();
    this.#render();
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
  }

  #render() {
    if (!this.last) return;
    const { state, elapsedMs, remainingMs, at } = this.last;
    const passed = state === "live" ? performance.now() - at : 0;
    const remaining = state === "ended" ? 0 : Math.max(0, remainingMs - passed);
    this.output.textContent = clock(remaining);
    this.output.dataset.urgent = String(state === "live" && remaining <= LAST_MINUTE_MS);
    if (this.progress) {
      const total = elapsedMs + remainingMs;
      this.progress.max = total || 1;
      this.progress.value = Math.min(total, elapsedMs + passed);
    }
  }
}
