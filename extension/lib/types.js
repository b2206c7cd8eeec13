// JSDoc types of the page library's API (lib/sceau.js); no code. `import("./types.js").Name` in JSDoc.

/**
 * A certificate as `listCertificates()` returns it (the agent's summary; no key material).
 * @typedef {object} CertificateInfo
 * @property {string} certificate DER, base64
 * @property {string} id opaque, stable handle: pass it as `certificate` to name this one in later calls
 * @property {string} subject RFC 4514 distinguished name
 * @property {string} commonName
 * @property {string} organization
 * @property {string} issuer RFC 4514 distinguished name
 * @property {string} issuerCommonName
 * @property {string} serialNumber hexadecimal
 * @property {string} notBefore ISO 8601
 * @property {string} notAfter ISO 8601
 * @property {string[]} roles among "auth", "sign", "encrypt"
 * @property {"rsa" | "ec"} keyType
 * @property {number} keySize bits (RSA modulus, EC curve size)
 * @property {string} fingerprintSha256 hexadecimal SHA-256 of the DER
 * @property {string} token label of the card, USB key or file holding it
 * @property {boolean} valid within its validity period now
 */
/**
 * @typedef {object} AuthToken Web eID `web-eid:1.0` token
 * @property {string} unverifiedCertificate
 * @property {string} algorithm
 * @property {string} signature
 * @property {string} format
 * @property {string} appVersion
 */
/**
 * @typedef {object} DetectResult
 * @property {boolean} extension the Sceau extension answered
 * @property {boolean} agent the Sceau application answered
 * @property {"extension" | "websocket" | null} transport how this client reaches it: the extension when it
 *   answers, else the application's loopback WebSocket; null when neither
 * @property {string} [extensionVersion]
 * @property {string} [version] agent version
 * @property {number} [protocol]
 * @property {string[]} [commands]
 * @property {string} [errorCode] why the agent is unavailable (AGENT_UNAVAILABLE, LOCAL_NETWORK_DENIED…)
 */
/**
 * @typedef {object} RequestOptions
 * @property {number} [timeoutMs]
 * @property {(event: object) => void} [onEvent] partial results streamed before the answer
 */
/**
 * Bytes for the agent: a base64 string is taken as already encoded.
 * @typedef {Blob | ArrayBuffer | ArrayBufferView | string} BinaryInput
 */
/**
 * What `upload()` returns; use it in place of `data` (`{ ...ref, format: "cades" }`).
 * @typedef {object} UploadRef
 * @property {string} transfer the agent's id of the uploaded document (valid on this browser's connection)
 * @property {string} name
 */
/**
 * A large result waiting in the agent, as the agent describes it.
 * @typedef {object} TransferDescriptor
 * @property {string} transfer
 * @property {string} [name]
 * @property {number} size bytes
 * @property {string} [sha256] hex, when the agent gives one
 * @property {number} chunks
 * @property {number} [chunkSize]
 */
/**
 * One document of a `signDocuments` batch. Other keys (`options`, `existingNames`) go to the agent as is.
 * @typedef {object} DocumentInput
 * @property {string} [name] file name (defaults to a File's name)
 * @property {BinaryInput} [data] the document (or give `transfer` from `upload()`)
 * @property {string} [transfer]
 * @property {"cades" | "xades" | "pades" | "pes"} [format] defaults to the batch's `format`
 * @property {string} [mimeType]
 * @property {object} [options] per-document options, e.g. `{ pades: { reason, visible } }`
 */
/**
 * Progress of a call: `{ type: "upload", name, sent, total }`, `{ type: "download", name, received, total }`,
 * the agent's events as they stream (`{ type: "document-signed", index, name, ok, ... }` for each signed
 * document; `{ type: "decrypt", progress, total }` while decrypting).
 * @typedef {{ type: string, [key: string]: any }} ProgressEvent
 */
/**
 * @typedef {object} TransferOptions
 * @property {(event: ProgressEvent) => void} [onProgress]
 * @property {number} [timeoutMs] per request (each chunk is one request)
 * @property {number} [chunkSize] upload chunk size in bytes (defaults to 512 KiB or less)
 * @property {"bytes" | "blob"} [as] how results come back: a Uint8Array (default) or a Blob assembled
 *   chunk by chunk (large results: the page's memory does not grow with the size)
 */
/**
 * `signDocuments` options: `onProgress`, `timeoutMs`, `chunkSize`, plus the `sign-documents` arguments
 * (`format`, `level`, `hashAlgorithm`, `certificate`, `tsaUrl`, `naming`, `scheme`, `options`).
 * @typedef {TransferOptions & { [arg: string]: any }} SignOptions
 */
/**
 * @typedef {object} SignedOutput
 * @property {string} name the signature's (or signed document's) file name
 * @property {number} size
 * @property {string} sha256 hex
 * @property {Uint8Array} data
 */
/**
 * @typedef {object} SignedItem
 * @property {number} index position in the batch
 * @property {string} name the document's name
 * @property {boolean} ok
 * @property {string} format
 * @property {SignedOutput} [output] when ok
 * @property {{ code: string, message: string }} [error] when not ok
 */
/**
 * @typedef {object} SignResult
 * @property {SignedItem[]} results in the batch's order
 * @property {number} signed
 * @property {number} failed
 * @property {string} level
 * @property {object} certificate summary of the signing certificate
 */
/**
 * Recipient certificate: PEM text, base64 DER, DER bytes, or a `listCertificates()` entry.
 * @typedef {string | ArrayBuffer | ArrayBufferView | { certificate: string }} CertificateInput
 */
/**
 * `encrypt` options: `name` (of the file; the result is `name.p7m`), `cipher`, `rsaPadding`, and TransferOptions.
 * @typedef {TransferOptions & { name?: string, cipher?: string, rsaPadding?: string }} EncryptOptions
 */
/**
 * `decrypt` options: `name` (shown in the consent dialog), `certificate` (handle), `mode`, and TransferOptions.
 * @typedef {TransferOptions & { name?: string, certificate?: string, mode?: "decrypt" | "unwrap-key" }} DecryptOptions
 */
/**
 * @typedef {object} DecryptResult
 * @property {Uint8Array | null} data the plaintext (null in unwrap-key mode)
 * @property {Uint8Array} [key] unwrap-key mode: the content-encryption key
 * @property {Uint8Array} [iv] unwrap-key mode
 * @property {object} report the agent's report (certificate, recipients, algorithm, signed, zip...)
 */

export {};
