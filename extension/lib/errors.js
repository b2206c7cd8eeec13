// Error codes and the error class of the page library (lib/sceau.js re-exports both).
import protocol from "./protocol.json" with { type: "json" };

/** Page-visible error codes, generated from the agent's definitions. @type {Readonly<Record<string, string>>} */
export const ErrorCode = Object.freeze(Object.fromEntries(protocol.errorCodes.map((c) => [c, c])));

/** An error reported by Sceau (extension, agent or token). */
export class SceauError extends Error {
  /**
   * @param {string} code one of ErrorCode
   * @param {string} message human-readable, safe to show
   */
  constructor(code, message) {
    super(message || code);
    this.name = "SceauError";
    /** @type {string} */
    this.code = code;
  }
}

/** The data received from the agent is not what it announced. */
export function corrupted(what = "The data received from Sceau is corrupted.") {
  return new SceauError(ErrorCode.INTERNAL, what);
}
