"""A test LOTL and two national lists (FR, DE) in the ETSI TS 119 612 schema, signed by generated
pivot and operator keys and served on 127.0.0.1; qualified-certificate signers under their CAs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509

from sceau.devkit import trustlists as D
from sceau.devkit.trustlists import ListServer, ListSpec, PointerSpec, ServiceSpec, State
from sceau.trust import tsl as T


@dataclass
class World:
    server: ListServer
    tmp: Path
    now: datetime
    keys: dict[str, tuple[x509.Certificate, D.PrivateKey]] = field(default_factory=dict)
    specs: dict[str, ListSpec] = field(default_factory=dict)
    p12: dict[str, Path] = field(default_factory=dict)

    @property
    def lotl_url(self) -> str:
        return self.server.url("/lotl.xml")

    @property
    def pivot_pem(self) -> Path:
        path = self.tmp / "pivot.pem"
        path.write_bytes(D.pem(self.keys["pivot"][0]))
        return path

    def publish(self, name: str, spec: ListSpec | None = None, signer: str | None = None) -> bytes:
        spec = spec or self.specs[name]
        cert, key = self.keys[signer or {"lotl": "pivot", "fr": "fr-op", "de": "de-op"}[name]]
        data = D.sign(D.build(spec), cert, key)
        self.server.files[f"/{name}.xml"] = data
        return data

    def config(self, data_dir: Path) -> Path:
        cfg = self.tmp / f"config-{data_dir.name}.toml"
        cfg.write_text(
            f'data_dir = "{data_dir}"\ntrusted_lists_url = "{self.lotl_url}"\n'
            f'trusted_lists_signers = ["{self.pivot_pem}"]\ntrusted_lists_territories = ["FR", "DE"]\n'
            f'rgs_policies = ["{D.TEST_POLICY}=**"]\n',
            encoding="utf-8",
        )
        return cfg


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("trust")
    now = datetime.now(UTC)
    with ListServer() as server:
        w = World(server, tmp, now)
        for name in ("pivot", "fr-op", "de-op", "rogue"):
            w.keys[name] = D.self_signed(f"Test {name}", ca=False)
        w.keys["fr-ca"] = D.self_signed("AC Qualifiée Test FR")
        w.keys["de-ca"] = D.self_signed("Test QC CA DE (withdrawn)", country="DE")
        fr_ca, fr_key = w.keys["fr-ca"]
        de_ca, de_key = w.keys["de-ca"]
        w.keys["qes"] = D.issue_signer("Marie Durand", fr_ca, fr_key)
        w.keys["adesqc"] = D.issue_signer("Paul Martin", fr_ca, fr_key, sscd=False)
        w.keys["seal"] = D.issue_signer("Bâtiments Durand cachet", fr_ca, fr_key, qc_type="eseal")
        w.keys["nonqc"] = D.issue_signer("Non Qualifié", fr_ca, fr_key, compliance=False, sscd=False, qc_type=None)
        w.keys["withdrawn"] = D.issue_signer("Hans Müller", de_ca, de_key)
        for name in ("qes", "adesqc", "seal", "nonqc", "withdrawn"):
            cert, key = w.keys[name]
            w.p12[name] = D.write_p12(tmp / f"{name}.p12", cert, key)
        w.specs["lotl"] = ListSpec(
            "EU",
            "European Commission (test)",
            tsl_type=T.TYPE_LOTL,
            pointers=[
                PointerSpec(w.lotl_url, "EU", [w.keys["pivot"][0]], tsl_type=T.TYPE_LOTL),
                PointerSpec(server.url("/fr.xml"), "FR", [w.keys["fr-op"][0]]),
                PointerSpec(server.url("/de.xml"), "DE", [w.keys["de-op"][0]]),
            ],
        )
        w.specs["fr"] = ListSpec(
            "FR",
            "ANSSI (test)",
            provider="Prestataire Qualifié Test",
            services=[ServiceSpec("AC Qualifiée Test FR", fr_ca, [State(T.GRANTED, now - timedelta(days=30))])],
        )
        w.specs["de"] = ListSpec(
            "DE",
            "BNetzA (test)",
            provider="Test TSP DE",
            services=[
                ServiceSpec(
                    "Test QC CA DE",
                    de_ca,
                    [State(T.WITHDRAWN, now - timedelta(days=1)), State(T.GRANTED, now - timedelta(days=60))],
                )
            ],
        )
        for name in ("lotl", "fr", "de"):
            w.publish(name)
        yield w
