"""The physical limit of the browser channel: a trivial extension + a trivial native host.

The probe extension takes the same hops as Sceau's (page `postMessage` → content script →
`runtime.sendMessage` → background service worker → `connectNative` port → host, and back) and does
nothing else; the probe host answers without parsing the JSON it relays. Measured from the page:

- `echo`: round trip of a tiny message (the floor under any bridge call such as `sign-hash`);
- `up`: page → host messages of MESSAGE_BYTES (a base64 string built once), `inflight` at a time;
- `down`: host → page messages of MESSAGE_BYTES (Chrome caps host → extension messages at 1 MB).

Both are counted in *document* bytes (3/4 of the base64 characters) so they compare with Sceau's
upload and download of a document. Also `websocket_probe`: the loopback WebSocket, same sizes.
The extension gets its own key (generated per run) and so its own id, next to Sceau's in one browser.
"""

from __future__ import annotations

import base64
import hashlib
import json
import stat
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

HOST = "fr.sceau.bench_probe"
MESSAGE_BYTES = 1_000_000  # one message of the channel, as JSON text

MANIFEST = {
    "manifest_version": 3,
    "name": "Sceau channel probe",
    "version": "1.0",
    "permissions": ["nativeMessaging"],
    "background": {"service_worker": "bg.js"},
    "content_scripts": [
        {
            "matches": ["https://*/*", "http://localhost/*", "http://127.0.0.1/*"],
            "js": ["cs.js"],
            "run_at": "document_start",
        }
    ],
}

CONTENT_JS = """
window.addEventListener("message", (ev) => {
  if (ev.source !== window || !ev.data || ev.data.probe !== "req") return;
  const { id, msg } = ev.data;
  chrome.runtime.sendMessage(msg).then((r) => window.postMessage({ probe: "res", id, msg: r }, location.origin));
});
"""

BACKGROUND_JS = f"""
let port = null;
const waiting = new Map();
function conn() {{
  if (!port) {{
    port = chrome.runtime.connectNative("{HOST}");
    port.onMessage.addListener((m) => {{ const f = waiting.get(m.id); waiting.delete(m.id); if (f) f(m); }});
    port.onDisconnect.addListener(() => {{ port = null; }});
  }}
  return port;
}}
chrome.runtime.onMessage.addListener((msg, sender, sendResponse) => {{
  waiting.set(msg.id, sendResponse);
  conn().postMessage(msg);
  return true;
}});
"""

# Requests: {"id":"…","op":"echo"|"up"|"down","n":N,…}; the host reads only that prefix.
HOST_PY = r"""
import base64, os, re, struct, sys
inp, out = sys.stdin.buffer, sys.stdout.buffer
HEAD = re.compile(rb'\{"id":"([^"]{1,64})","op":"(\w+)","n":(\d+)')
cache = {}

def read_exact(n):
    buf = bytearray()
    while len(buf) < n:
        part = inp.read(n - len(buf))
        if not part:
            sys.exit(0)
        buf += part
    return bytes(buf)

while True:
    (n,) = struct.unpack("<I", read_exact(4))
    body = read_exact(n)
    m = HEAD.match(body)
    rid, op, size = m.group(1), m.group(2), int(m.group(3))
    if op == b"down":
        if size not in cache:
            cache[size] = base64.b64encode(os.urandom(size * 3 // 4))
        reply = b'{"id":"' + rid + b'","data":"' + cache[size] + b'"}'
    else:
        reply = b'{"id":"' + rid + b'","ok":true}'
    out.write(struct.pack("<I", len(reply)) + reply)
    out.flush()
"""

# Defines window.__probe(op, count, inflight, size) in the page: seconds for `count` requests.
PAGE_JS = """
(() => {
  if (window.__probe) return;
  const pending = new Map();
  let next = 0;
  window.addEventListener("message", (ev) => {
    if (ev.source !== window || !ev.data || ev.data.probe !== "res") return;
    const f = pending.get(ev.data.id);
    pending.delete(ev.data.id);
    if (f) f(ev.data.msg);
  });
  const ask = (msg) => new Promise((resolve) => {
    const id = String(next++);
    pending.set(id, resolve);
    window.postMessage({ probe: "req", id, msg: { id, ...msg } }, location.origin);
  });
  const payloads = new Map();
  window.__probe = async (op, count, inflight, size) => {
    let data = "";
    if (op === "up") {
      if (!payloads.has(size)) payloads.set(size, "A".repeat(size - 64));
      data = payloads.get(size);
    }
    const t0 = performance.now();
    let sent = 0;
    const worker = async () => {
      while (sent < count) {
        sent++;
        const r = await ask(op === "up" ? { op, n: size, data } : { op, n: size });
        if (op === "down" && (!r || typeof r.data !== "string")) throw new Error("probe: no data");
      }
    };
    await Promise.all(Array.from({ length: Math.min(inflight, count) }, worker));
    return (performance.now() - t0) / 1000;
  };
})();
"""


def extension_id(public_der: bytes) -> str:
    """Chrome's id of an unpacked extension with this `key`: sha256 of the key, hex mapped to a–p."""
    return "".join(chr(ord("a") + int(c, 16)) for c in hashlib.sha256(public_der).hexdigest()[:32])


def prepare(root: Path, profile: Path) -> Path:
    """Write the probe extension and host under `root`, its host manifest into `profile`; the extension dir."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ext = root / "probe-extension"
    ext.mkdir(parents=True, exist_ok=True)
    (ext / "manifest.json").write_text(json.dumps({**MANIFEST, "key": base64.b64encode(der).decode()}))
    (ext / "cs.js").write_text(CONTENT_JS)
    (ext / "bg.js").write_text(BACKGROUND_JS)
    host = root / "probe-host"
    host.write_text(f"#!{sys.executable}\n{HOST_PY}")
    host.chmod(host.stat().st_mode | stat.S_IXUSR)
    hosts = profile / "NativeMessagingHosts"
    hosts.mkdir(parents=True, exist_ok=True)
    (hosts / f"{HOST}.json").write_text(
        json.dumps(
            {
                "name": HOST,
                "description": "Sceau benchmark probe",
                "path": str(host),
                "type": "stdio",
                "allowed_origins": [f"chrome-extension://{extension_id(der)}/"],
            }
        )
    )
    return ext


def document_bytes(messages: int, size: int = MESSAGE_BYTES) -> int:
    """Document bytes carried by `messages` base64 messages of `size` characters."""
    return messages * (size - 64) * 3 // 4


def install_page_helper(page: object) -> None:
    page.evaluate(PAGE_JS)  # type: ignore[attr-defined]


def probe(page: object, op: str, count: int, inflight: int = 1, size: int = MESSAGE_BYTES) -> float:
    """Seconds for `count` probe requests from the page (see the module docstring)."""
    seconds: float = page.evaluate(  # type: ignore[attr-defined]
        "([op, count, inflight, size]) => window.__probe(op, count, inflight, size)", [op, count, inflight, size]
    )
    return seconds
