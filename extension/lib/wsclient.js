// The loopback WebSocket to the Sceau application, for browsers without the extension. Used by
// lib/sceau.js when no extension answers: same requests, same replies, same error codes.
//
// The application must listen (`websocket_port` in its configuration). The first connection from a
// site asks the user in Sceau's own window ("example.fr veut se connecter à Sceau"); a refusal closes
// the socket with `closeOriginNotAllowed` → ORIGIN_NOT_ALLOWED. A connection that fails before it
// opens is AGENT_UNAVAILABLE, or LOCAL_NETWORK_DENIED when the browser's Local Network Access
// permission is denied for the page (Chrome 142+: the page sees only a generic failure, so we ask
// the Permissions API why).
import protocol from "./protocol.json" with { type: "json" };
import { ErrorCode, SceauError } from "./errors.js";

const WS = protocol.websocket;
export const DEFAULT_WEBSOCKET_URL = `ws://127.0.0.1:${WS.port}`;
const CONNECT_TIMEOUT_MS = 5_000;
// Chrome's permission names: one before the split, the loopback one after it.
const LNA_PERMISSIONS = ["loopback-network", "local-network-access", "local-network"];

const MESSAGES = Object.freeze({
  unavailable: "L'application Sceau ne répond pas : lancez-la (menu Démarrer ou applications), puis réessayez.",
  lna: "Votre navigateur bloque l'accès de ce site à l'application Sceau (« accès au réseau local »). "
    + "Autorisez-le dans les paramètres du site (icône à gauche de l'adresse), puis rechargez la page.",
  refused: "Vous avez refusé que ce site se connecte à Sceau. Vous pouvez changer d'avis depuis l'icône Sceau (« Sites autorisés »).",
  stopped: "L'application Sceau s'est arrêtée pendant l'opération ; réessayez.",
  timeout: "Pas de réponse de l'application Sceau.",
});

/** Whether the browser's Local Network Access permission is denied for this page. */
export async function localNetworkDenied(nav = globalThis.navigator) {
  if (!nav?.permissions?.query) return false;
  for (const name of LNA_PERMISSIONS) {
    try {
      const status = await nav.permissions.query({ name });
      if (status.state === "denied") return true;
    } catch {
      // this browser does not know the name
    }
  }
  return false;
}

/** One WebSocket to the application, opened on demand and reopened after it closes. */
export class WebSocketChannel {
  /**
   * @param {{ url?: string, WebSocketImpl?: typeof WebSocket, connectTimeoutMs?: number, navigator?: any }} [options]
   */
  constructor({ url = DEFAULT_WEBSOCKET_URL, WebSocketImpl = globalThis.WebSocket, connectTimeoutMs = CONNECT_TIMEOUT_MS,
    navigator = globalThis.navigator } = {}) {
    this.url = url;
    this.WebSocketImpl = WebSocketImpl;
    this.connectTimeoutMs = connectTimeoutMs;
    this.navigator = navigator;
    this.socket = null;
    this.opening = null;
    this.refused = false;
    /** @type {Map<string, { resolve: Function, reject: Function, timer: any, onEvent?: Function }>} */
    this.pending = new Map();
    /** @type {Set<(notify: object) => void>} */
    this.listeners = new Set();
  }

  /** Open the socket (or reuse the open one); rejects with SceauError. */
  open() {
    if (this.socket && this.socket.readyState === 1) return Promise.resolve();
    // The user refused this site: the agent now answers its handshakes with 403, which a page
    // cannot tell from "not running"; keep saying what happened until the page reloads.
    if (this.refused) return Promise.reject(new SceauError(ErrorCode.ORIGIN_NOT_ALLOWED, MESSAGES.refused));
    this.opening ??= this._connect().finally(() => { this.opening = null; });
    return this.opening;
  }

  async _failure() {
    return (await localNetworkDenied(this.navigator))
      ? new SceauError(ErrorCode.LOCAL_NETWORK_DENIED, MESSAGES.lna)
      : new SceauError(ErrorCode.AGENT_UNAVAILABLE, MESSAGES.unavailable);
  }

  _connect() {
    return new Promise((resolve, reject) => {
      if (typeof this.WebSocketImpl !== "function") {
        reject(new SceauError(ErrorCode.AGENT_UNAVAILABLE, MESSAGES.unavailable));
        return;
      }
      let socket;
      try {
        socket = new this.WebSocketImpl(this.url);
      } catch {
        reject(new SceauError(ErrorCode.AGENT_UNAVAILABLE, MESSAGES.unavailable));
        return;
      }
      let opened = false;
      const timer = setTimeout(() => {
        socket.close();
        this._failure().then(reject);
      }, this.connectTimeoutMs);
      socket.onopen = () => {
        opened = true;
        clearTimeout(timer);
        this.socket = socket;
        resolve();
      };
      socket.onmessage = (ev) => this._receive(ev.data);
      socket.onclose = (ev) => {
        clearTimeout(timer);
        if (this.socket === socket) this.socket = null;
        if (!opened) {
          this._failure().then(reject);
          return;
        }
        if (ev.code === WS.closeOriginNotAllowed) this.refused = true;
        const error = this.refused
          ? new SceauError(ErrorCode.ORIGIN_NOT_ALLOWED, MESSAGES.refused)
          : new SceauError(ErrorCode.INTERNAL, MESSAGES.stopped);
        for (const [id, p] of this.pending) {
          clearTimeout(p.timer);
          this.pending.delete(id);
          p.reject(error);
        }
      };
    });
  }

  _receive(text) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    if (!msg || typeof msg !== "object") return;
    if (msg.notify) {
      for (const cb of this.listeners) cb(msg.notify);
      return;
    }
    const p = this.pending.get(msg.id);
    if (!p) return;
    if (msg.event) {
      p.onEvent?.(msg.event);
      return;
    }
    if (!("ok" in msg)) return;
    this.pending.delete(msg.id);
    clearTimeout(p.timer);
    if (msg.ok) p.resolve(msg.result);
    else p.reject(new SceauError(msg.error?.code ?? ErrorCode.INTERNAL, msg.error?.message));
  }

  /**
   * Send one request (`{v, id, cmd, args}`) and wait for its reply.
   * @param {string} id @param {string} cmd @param {object} args
   * @param {{ timeoutMs: number, onEvent?: Function }} options
   */
  async request(id, cmd, args, { timeoutMs, onEvent }) {
    await this.open();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new SceauError(ErrorCode.TIMEOUT, MESSAGES.timeout));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer, onEvent });
      try {
        this.socket.send(JSON.stringify({ v: protocol.protocolVersion, id, cmd, args }));
      } catch { // closed between open() and now (e.g. the user just refused the site)
        clearTimeout(timer);
        this.pending.delete(id);
        reject(this.refused ? new SceauError(ErrorCode.ORIGIN_NOT_ALLOWED, MESSAGES.refused)
          : new SceauError(ErrorCode.INTERNAL, MESSAGES.stopped));
      }
    });
  }

  close() {
    this.socket?.close();
    this.socket = null;
  }
}
