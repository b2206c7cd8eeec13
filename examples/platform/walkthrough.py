"""Scripted walkthrough of the demo platform in Chromium (Playwright), printing each step's result.

The browser is the Debian Chromium with the Sceau extension loaded; the extension's first-use
prompts ("ce site veut utiliser votre certificat…") are answered "Autoriser" as a user would.
A screenshot of every page is saved. Used by `sceau demo --serve` without a display and by the tests.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from examples.platform import samples
from sceau.devkit.bridge import chromium_args, launch_chromium
from sceau.i18n import _

STEP_TIMEOUT_MS = 90_000
COMPANY_USER = "Marie Durand"
BUYER_USER = "Jean Lefèvre"


@dataclass
class StepResult:
    name: str
    ok: bool
    detail: str
    screenshot: Path | None = None


@dataclass
class Walkthrough:
    page: Any
    origin: str
    shots: Path
    results: list[StepResult] = field(default_factory=list)
    prompts: list[str] = field(default_factory=list)

    def shot(self, name: str) -> Path:
        path = self.shots / f"{len(self.results) + 1:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def run(self, name: str, shot: str, fn: Callable[[], str]) -> bool:
        started = time.monotonic()
        try:
            detail = fn()
            ok = True
        except Exception as exc:  # every failure is reported, the walkthrough stops
            detail = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            ok = False
        path = None
        try:
            path = self.shot(shot)
        except Exception:  # a screenshot must not hide the step's result
            path = None
        self.results.append(StepResult(name, ok, detail, path))
        mark = "✔" if ok else "✘"
        print(f"  {mark} {name} ({time.monotonic() - started:.1f} s) — {detail}", flush=True)
        return ok

    # ---- page helpers ----------------------------------------------------------------------------

    def goto(self, path: str) -> None:
        self.page.goto(self.origin + path)
        self.page.wait_for_function(
            "() => { const b = document.getElementById('sceau-status'); return b && b.className !== 'badge'; }",
            timeout=STEP_TIMEOUT_MS,
        )

    def choose_certificate(self, name: str) -> None:
        self.page.wait_for_function("() => !document.getElementById('cert').disabled", timeout=STEP_TIMEOUT_MS)
        found = self.page.evaluate(
            """(name) => { const s = document.getElementById('cert');
                 const o = [...s.options].find((o) => o.textContent.includes(name));
                 if (o) s.value = o.value; return Boolean(o); }""",
            name,
        )
        if not found:
            raise AssertionError(f"no certificate of {name} in the list")

    def result_of(self, selector: str) -> tuple[bool, str]:
        el = self.page.wait_for_selector(selector, timeout=STEP_TIMEOUT_MS)
        text = " ".join(el.inner_text().split())
        return "ok" in (el.get_attribute("class") or "").split(), text

    # ---- steps -------------------------------------------------------------------------------------

    def home(self) -> str:
        self.goto("/")
        badge = str(self.page.inner_text("#sceau-status"))
        if "prêt" not in badge:
            raise AssertionError(badge)
        return badge

    def login(self, name: str) -> str:
        if self.page.query_selector("form[action='/deconnexion'] button"):
            self.page.click("form[action='/deconnexion'] button")
            self.page.wait_for_load_state()
        self.goto("/connexion")
        self.choose_certificate(name)
        self.page.click("#login")
        ok, text = self.result_of("#result .result")
        if not ok or name not in text:
            raise AssertionError(text[:300])
        siren = self.page.inner_text("#result dd:nth-of-type(3)")
        return f"session ouverte pour {name}, SIREN {siren}"

    def consultation(self) -> str:
        self.goto("/consultation")
        with self.page.expect_download(timeout=STEP_TIMEOUT_MS) as info:
            self.page.click("#dce")
        path = info.value.path()
        import zipfile

        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
        return f"{info.value.suggested_filename} : {len(names)} pièces"

    def deposit(self, files: list[Path]) -> str:
        self.goto("/depot")
        self.choose_certificate(COMPANY_USER)
        self.page.set_input_files("#files", [str(f) for f in files])
        chosen = self.page.evaluate("[...document.getElementById('files').files].map((f) => f.name)")
        if len(chosen) != len(files):
            raise AssertionError(f"file input holds {chosen}")
        self.page.check("#sign")
        self.page.click("#submit")
        ok, text = self.result_of("#receipt .result")
        if not ok:
            raise AssertionError(text[:300])
        number = self.page.inner_text("#ar dd")
        return f"accusé de réception {number}"

    def attribution(self, name: str) -> str:
        self.goto("/attribution")
        self.choose_certificate(name)
        self.page.click("#sign")
        ok, text = self.result_of("#reports #verdict")
        reports = self.page.query_selector_all("#reports .report")
        if not ok:
            raise AssertionError(" ".join(r.inner_text() for r in reports)[:400] or text)
        return f"{len(reports)} signatures vérifiées (PAdES visible, XAdES, CAdES)"

    def opening(self) -> str:
        self.goto("/ouverture")
        button = self.page.wait_for_selector("button.open", timeout=STEP_TIMEOUT_MS)
        button.click()
        ok, text = self.result_of("#opened-result")
        if not ok:
            raise AssertionError(text[:300])
        files = self.page.query_selector_all("#opened-result li")
        reports = self.page.query_selector_all("#opened .report.ok")
        return f"{len(files)} fichiers, {len(reports)} signatures valides"

    def actes(self) -> str:
        self.goto("/actes")
        self.choose_certificate(BUYER_USER)
        self.page.select_option("#nature", "CC")
        self.page.fill("#numero", "2026_042")
        self.page.click("#send")
        ok, text = self.result_of("#ar-result")
        if not ok:
            raise AssertionError(text[:300])
        return f"AR {self.page.inner_text('#ar-result dd')}"

    def helios(self) -> str:
        self.goto("/helios")
        self.choose_certificate(BUYER_USER)
        self.page.click("#sign")
        ok, _text = self.result_of("#reports #verdict")
        reports = self.page.query_selector_all("#reports .report.ok")
        if not ok:
            raise AssertionError(
                " ".join(r.inner_text() for r in self.page.query_selector_all("#reports .report"))[:400]
            )
        return f"{len(reports)} bordereaux signés et vérifiés"


def _answer_prompts(walk: Walkthrough) -> Callable[[Any], None]:
    """Click "Autoriser" on the extension's first-use prompts, as the user would."""

    def on_page(popup: Any) -> None:
        try:
            popup.wait_for_load_state()
            if "/permission/permission.html" not in popup.url:
                return
            popup.wait_for_function("document.getElementById('question').textContent.length > 0")
            walk.prompts.append(" ".join(popup.inner_text("#question").split()))
            popup.click("#allow")  # "Autoriser" (the label follows the browser's language)
        except Exception as exc:  # reported through the step that waits for it
            walk.prompts.append(f"prompt error: {exc}")

    return on_page


def sample_bid(directory: Path) -> list[Path]:
    files = {
        "Mémoire technique.pdf": samples.make_pdf(
            "Mémoire technique — Bâtiments Durand SARL",
            ["Méthodologie d'intervention en site occupé.", "Moyens humains : 6 compagnons, 1 conducteur de travaux."],
        ),
        "DPGF lot 1.csv": samples.bpu(),
    }
    paths = []
    for name, data in files.items():
        (directory / name).write_bytes(data)
        paths.append(directory / name)
    return paths


def run_walkthrough(
    origin: str,
    profile: Path,
    env: dict[str, str],
    shots: Path,
    *,
    headless: bool = True,
    full: bool = True,
    args: list[str] | None = None,
) -> int:
    """Drive Chromium through the demo; 0 when every step passed. `full=False`: login + one signature."""
    from playwright.sync_api import sync_playwright

    shots.mkdir(parents=True, exist_ok=True)
    mode = _("headless") if headless else _("visible")
    print(_("Demo walkthrough in Chromium ({mode}); screenshots in {path}").format(mode=mode, path=shots))
    with sync_playwright() as pw, tempfile.TemporaryDirectory(prefix="sceau-demo-bid-") as tmp:
        context = launch_chromium(
            pw,
            profile,
            # French UI through LANGUAGE: LANG=fr_FR.UTF-8 without that locale installed makes
            # Chromium drop non-ASCII file names from file inputs.
            {**env, "LANGUAGE": "fr", "LANG": env.get("LANG") or "C.UTF-8"},
            headless=headless,
            args=args if args is not None else chromium_args(),
            accept_downloads=True,
            viewport={"width": 1200, "height": 900},
        )
        try:
            page = context.new_page()
            walk = Walkthrough(page, origin, shots)
            context.on("page", _answer_prompts(walk))
            steps: list[tuple[str, str, Callable[[], str]]] = [
                ("Détection de Sceau", "accueil", walk.home),
                (f"Connexion par certificat ({COMPANY_USER})", "connexion", lambda: walk.login(COMPANY_USER)),
                ("Signature de l'attribution (titulaire)", "attribution", lambda: walk.attribution(COMPANY_USER)),
            ]
            if full:
                steps[2:2] = [
                    ("Téléchargement du DCE", "consultation", walk.consultation),
                    ("Dépôt d'une offre signée et chiffrée", "depot", lambda: walk.deposit(sample_bid(Path(tmp)))),
                ]
                steps += [
                    (f"Connexion de l'acheteur ({BUYER_USER})", "connexion-acheteur", lambda: walk.login(BUYER_USER)),
                    ("Ouverture du pli", "ouverture", walk.opening),
                    ("Transmission ACTES", "actes", walk.actes),
                    ("Signature Hélios (PES_Aller)", "helios", walk.helios),
                ]
            for name, shot, fn in steps:
                if not walk.run(name, shot, fn):
                    break
            for prompt in walk.prompts:
                print("    " + _("(site permission: {prompt})").format(prompt=prompt))
        finally:
            context.close()
    passed = sum(r.ok for r in walk.results)
    print(_("Walkthrough: {passed}/{total} steps passed.").format(passed=passed, total=len(steps)))
    return 0 if passed == len(steps) else 1
