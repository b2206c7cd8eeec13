// Pure decisions of the background, kept apart so they are unit-tested (extension/tests/policy.test.mjs):
// who is asking (origin from the browser), which permission a request needs, size checks, and the
// reassembly of chunked native replies. Classic script: defines globalThis.SceauPolicy.
"use strict";

(() => {
  const DEV_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

  /** The requesting frame's origin as the browser reports it; never a value the page wrote. */
  function originOf(sender) {
    if (typeof sender.origin === "string") return sender.origin; // Chrome: the frame's real origin
    try {
      return new URL(sender.url).origin; // Firefox: the frame's URL ("null" for opaque origins)
    } catch {
      return "null";
    }
  }

  /** https always; http only for localhost when the agent runs in dev mode. */
  function originAccepted(origin, devMode) {
    let url;
    try {
      url = new URL(origin);
    } catch {
      return false;
    }
    if (url.protocol === "https:") return true;
    return devMode === true && url.protocol === "http:" && DEV_HOSTS.has(url.hostname);
  }

  /**
   * The operation class a page command needs the site to be granted, from the handlers' rules
   * (`protocol.permissions`: {kind, byArgument: {name, kinds}} or null); null when none is needed.
   */
  function permissionFor(rules, cmd, args) {
    const rule = Object.hasOwn(rules, cmd) ? rules[cmd] : null;
    if (!rule) return null;
    const by = rule.byArgument;
    const value = by && args && typeof args === "object" ? args[by.name] : undefined;
    if (typeof value === "string" && Object.hasOwn(by.kinds, value)) return by.kinds[value];
    return rule.kind ?? null;
  }

  /** Whether `text` takes more than `maxBytes` in UTF-8 (encodes only when the bounds do not decide). */
  function tooLarge(text, maxBytes) {
    // UTF-8 takes 1 to 3 bytes per UTF-16 unit.
    if (text.length > maxBytes) return true;
    if (text.length * 3 <= maxBytes) return false;
    return new TextEncoder().encode(text).length > maxBytes;
  }

  /**
   * Reassembles native replies the host split into `{id, chunk: {index, count, data}}` messages.
   * `add(msg)` returns {done: false}, {done: true, message} or {error: "malformed" | "inconsistent" | "corrupted"}.
   */
  class ChunkAssembler {
    constructor(maxChunks) {
      this.maxChunks = maxChunks;
      this.entries = new Map(); // wire id -> { count, parts, received }
    }

    add(msg) {
      const { index, count, data } = msg.chunk ?? {};
      if (!Number.isInteger(count) || count < 1 || count > this.maxChunks || !Number.isInteger(index)
          || index < 0 || index >= count || typeof data !== "string") {
        this.entries.delete(msg.id);
        return { error: "malformed" };
      }
      let entry = this.entries.get(msg.id);
      if (!entry) {
        entry = { count, parts: new Array(count), received: 0 };
        this.entries.set(msg.id, entry);
      }
      if (entry.count !== count || entry.parts[index] !== undefined) {
        this.entries.delete(msg.id);
        return { error: "inconsistent" };
      }
      entry.parts[index] = data;
      entry.received += 1;
      if (entry.received < count) return { done: false };
      this.entries.delete(msg.id);
      try {
        return { done: true, message: JSON.parse(entry.parts.join("")) };
      } catch {
        return { error: "corrupted" };
      }
    }

    /** Forget a request's partial reply (it finished or timed out). */
    drop(id) {
      this.entries.delete(id);
    }
  }

  /**
   * Where the first-use prompt goes: centred on the browser window the request came from (not at a
   * fixed corner a page could predict and place a button under), kept on that window's screen area.
   */
  function centredBounds(parent, width, height) {
    const num = (v, d) => (Number.isFinite(v) ? v : d);
    const pw = num(parent?.width, width), ph = num(parent?.height, height);
    const left = num(parent?.left, 0) + Math.max(0, Math.round((pw - width) / 2));
    const top = num(parent?.top, 0) + Math.max(0, Math.round((ph - height) / 2));
    return { left, top, width, height };
  }

  /**
   * A prompt closed or left to time out counts as a refusal for `periodMs`: a page cannot reopen it on
   * every call until the user clicks by mistake. Keys are "origin kind"; `now` is injectable (tests).
   */
  class Cooldowns {
    constructor(periodMs, now = Date.now) {
      this.periodMs = periodMs;
      this.now = now;
      this.until = new Map();
    }

    dismissed(key) {
      this.until.set(key, this.now() + this.periodMs);
    }

    active(key) {
      const until = this.until.get(key);
      if (until === undefined) return false;
      if (this.now() < until) return true;
      this.until.delete(key);
      return false;
    }

    clear(key) {
      this.until.delete(key);
    }
  }

  /**
   * The prompt's "Allow" button: usable only after `delayMs` of the prompt being shown and focused,
   * counted again each time it regains focus (a click aimed at the page must not land on it).
   * `setEnabled(bool)` updates the button; `timers` is {set, clear} (setTimeout in the page).
   */
  class Arming {
    // Arrow wrappers: a browser's setTimeout called as a method of another object throws "Illegal invocation".
    constructor(delayMs, setEnabled, timers = { set: (fn, ms) => setTimeout(fn, ms), clear: (id) => clearTimeout(id) }) {
      this.delayMs = delayMs;
      this.setEnabled = setEnabled;
      this.timers = timers;
      this.timer = null;
      this.armed = false;
      setEnabled(false);
    }

    /** The prompt is visible and focused: arm after the delay. */
    focused() {
      if (this.timer !== null) this.timers.clear(this.timer);
      this.timer = this.timers.set(() => {
        this.timer = null;
        this.armed = true;
        this.setEnabled(true);
      }, this.delayMs);
    }

    /** The prompt lost focus or visibility: disarm at once. */
    blurred() {
      if (this.timer !== null) this.timers.clear(this.timer);
      this.timer = null;
      this.armed = false;
      this.setEnabled(false);
    }
  }

  globalThis.SceauPolicy = Object.freeze({
    originOf, originAccepted, permissionFor, tooLarge, ChunkAssembler, centredBounds, Cooldowns, Arming,
  });
})();
