"""The independent verifiers, run the way DESIGN.md §7 found they must be: `openssl cms -verify`,
`xmlsec1 --verify` (from an empty directory, detached references resolved only through `--url-map`)
and poppler's `pdfsig`. The format tests, the e2e tests and the demo platform all call these, so
every check of a signature Sceau made is the same command line, never our own code.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sceau.formats import xmldsig

# `--id-attr` arguments: the elements our XML signatures reference by Id.
XADES_IDS = (f"{xmldsig.XADES132}:SignedProperties",)
PES_IDS = ("Bordereau", f"{xmldsig.XADES122}:SignedProperties", f"{xmldsig.DS}:Signature")


@dataclass(frozen=True)
class ToolResult:
    """What a verifier said: its exit status (`ok` when 0), its stdout and stderr."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def message(self) -> str:
        """The tool's last words, for a report line."""
        lines = [line for line in (self.stderr + self.stdout).splitlines() if line.strip()]
        return lines[-1][:300] if lines else f"code {self.returncode}"


def run_tool(cmd: Sequence[str], cwd: Path | None = None, timeout: float = 120) -> ToolResult:
    res = subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True, check=False, timeout=timeout)
    return ToolResult(res.returncode, res.stdout, res.stderr)


def openssl_cms_verify(
    signature: Path,
    *,
    trusted: Path,
    content: Path | None = None,
    inform: str = "DER",
    out: Path | None = None,
) -> ToolResult:
    """`openssl cms -verify` of a CMS signature (detached when `content` is given), any key purpose.
    `openssl cms` (3.0) takes no untrusted intermediates: give a `trusted` file holding them when needed."""
    cmd = ["openssl", "cms", "-verify", "-binary", "-inform", inform, "-in", str(signature)]
    if content is not None:
        cmd += ["-content", str(content)]
    cmd += ["-CAfile", str(trusted), "-purpose", "any"]
    cmd += ["-out", str(out) if out is not None else "/dev/null"]
    return run_tool(cmd)


def xmlsec_verify(
    document: Path,
    *,
    trusted: Path,
    untrusted: Path | None = None,
    id_attrs: Sequence[str] = XADES_IDS,
    url_map: Mapping[str, Path] | None = None,
    node_id: str | None = None,
) -> ToolResult:
    """`xmlsec1 --verify` from an empty working directory (xmlsec1 may otherwise open a file named
    like a detached reference by itself); detached documents come only from `url_map` (URI → file)."""
    cmd = ["xmlsec1", "--verify"]
    for id_attr in id_attrs:
        cmd += ["--id-attr:Id", id_attr]
    for uri, path in (url_map or {}).items():
        cmd += [f"--url-map:{uri}", str(path)]
    if node_id is not None:
        cmd += ["--node-id", node_id]
    cmd += ["--trusted-pem", str(trusted)]
    if untrusted is not None:
        cmd += ["--untrusted-pem", str(untrusted)]
    with tempfile.TemporaryDirectory(prefix="sceau-xmlsec-") as empty:
        return run_tool([*cmd, str(document)], cwd=Path(empty))


def pdfsig(pdf: Path) -> ToolResult:
    """poppler's `pdfsig`: one block per signature, "Signature Validation: Signature is Valid." when it is."""
    return run_tool(["pdfsig", str(pdf)])


def pdfsig_valid_count(pdf: Path) -> int:
    """How many signatures of `pdf` pdfsig finds valid (-1 when pdfsig cannot read the file)."""
    res = pdfsig(pdf)
    return res.stdout.count("Signature is Valid.") if res.ok else -1


def signxml_verify(document: bytes, certificate_pem: str, *, references: int = 2) -> list[bool]:
    """A second, in-process XML-DSig verifier (signxml, a dev dependency): for each `ds:Signature` of
    `document`, whether its references and signature value verify with `certificate_pem`. Certificate
    paths are xmlsec1's job: signxml's own path validation applies web-PKI key-usage rules that RGS
    signature certificates (nonRepudiation only) do not meet."""
    from copy import deepcopy

    from lxml import etree
    from signxml import SignatureConfiguration, XMLVerifier  # type: ignore[attr-defined]
    from signxml.exceptions import InvalidInput, InvalidSignature

    tag = f"{{{xmldsig.DS}}}Signature"
    root = etree.fromstring(document, etree.XMLParser(resolve_entities=False, no_network=True))
    results = []
    for index in range(len(list(root.iter(tag)))):
        alone = deepcopy(root)  # the other signatures out, so signxml checks this one
        for sig in [s for i, s in enumerate(alone.iter(tag)) if i != index]:
            parent = sig.getparent()
            if parent is not None:
                parent.remove(sig)
        try:
            XMLVerifier().verify(
                alone,
                x509_cert=certificate_pem,
                id_attribute="Id",
                expect_config=SignatureConfiguration(expect_references=references),
            )
            results.append(True)
        except (InvalidSignature, InvalidInput):
            results.append(False)
    return results
