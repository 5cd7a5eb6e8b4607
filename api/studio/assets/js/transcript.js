// The live transcript as a list: one line per turn and side, partial lines (Gemini's)
// updated in place until their final version arrives.

import { h } from "./dom.js";
import { clock } from "./format.js";

const STICK_TO_BOTTOM_PX = 48;

export class TranscriptLog {
  /** `names` maps a role (`ai`, `user`) to who it is for the reader. */
  constructor(list, names = { ai: "Host", user: "You" }) {
    this.list = list;
    this.names = names;
    this.partial = new Map();
  }

  clear() {
    this.list.replaceChildren();
    this.partial.clear();
  }

  /** Add (or complete) a line from a `transcript` event or a stored message. */
  add({ role, text, relativeOffset, final = true }) {
    const stick =
      this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < STICK_TO_BOTTOM_PX;
    let item = this.partial.get(role);
    if (!item) {
      item = this.#line(role, relativeOffset);
      this.list.append(item);
    }
    item.querySelector(".said").textContent = text;
    item.dataset.final = String(final);
    if (final) this.partial.delete(role);
    else this.partial.set(role, item);
    if (stick) this.list.scrollTop = this.list.scrollHeight;
    return item;
  }

  /**
   * Fill in stored lines (messages, oldest first) that were missed, e.g. while a dropped
   * connection was rejoined; a live line and its stored copy share role and offset.
   */
  merge(messages) {
    const shown = new Set(
      [...this.list.querySelectorAll("li[data-final=true]")].map((item) => item.dataset.key),
    );
    for (const message of messages) {
      const offset = message.relativeOffset ?? 0;
      if (shown.has(`${message.role}:${offset}`)) continue;
      const item = this.#line(message.role, offset);
      item.querySelector(".said").textContent = message.text;
      item.dataset.final = "true";
      const later = [...this.list.children].find(
        (other) => other.dataset.final === "false" || Number(other.dataset.offset) > offset,
      );
      this.list.insertBefore(item, later ?? null);
    }
  }

  #line(role, offset) {
    const who = this.names[role] ?? role;
    return h(
      "li",
      { dataset: { role, offset: String(offset ?? ""), key: `${role}:${offset ?? 0}` } },
      h("span", { class: "who" }, who),
      typeof offset === "number"
        ? h("time", { class: "at", title: "Time in the recording" }, clock(offset))
        : null,
      h("span", { class: "said" }),
    );
  }
}
