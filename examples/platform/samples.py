"""Sample documents of the demo consultation, generated at startup (no binary files in the repository).

A small PDF writer (Helvetica, WinAnsi encoding so French accents print), the DCE zip, the
"Acte d'engagement" with room for a visible signature, a BPU (CSV) and a PES_Aller in ISO-8859-1.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime

CONSULTATION = "2026-017"
CONSULTATION_TITLE = "Rénovation énergétique de l'école Jules-Ferry"
BUYER = "Commune de Saint-Aubin-sur-Loire"
PES_NS = "http://www.minefi.gouv.fr/cp/helios/pes_v2/Rev0/aller"
# Where the visible PAdES signature goes on the acte d'engagement (points, from the bottom left).
SIGNATURE_BOX = (320, 60, 560, 150)


def _pdf_text(text: str) -> bytes:
    raw = text.encode("cp1252", "replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def make_pdf(title: str, lines: list[str], *, footer_box: bool = False) -> bytes:
    """A one-page A4 PDF: a title, lines of text, optionally a framed "signature" area."""
    ops = [b"BT /F2 16 Tf 56 780 Td (" + _pdf_text(title) + b") Tj ET"]
    y = 740
    for line in lines:
        ops.append(b"BT /F1 11 Tf 56 %d Td (" % y + _pdf_text(line) + b") Tj ET")
        y -= 18
    if footer_box:
        x1, y1, x2, y2 = SIGNATURE_BOX
        ops.append(b"0.6 G %d %d %d %d re S" % (x1, y1, x2 - x1, y2 - y1))
        ops.append(b"BT /F1 9 Tf %d %d Td (" % (x1, y2 + 6) + _pdf_text("Signature du titulaire") + b") Tj ET")
    content = b"\n".join(ops) + b"\n"
    font = "<< /Type /Font /Subtype /Type1 /BaseFont /{} /Encoding /WinAnsiEncoding >>"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R /F2 6 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"endstream",
        font.format("Helvetica").encode(),
        font.format("Helvetica-Bold").encode(),
        b"<< /Title (" + _pdf_text(title) + b") /Producer (Sceau demo) >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for off in offsets:
        out.write(b"%010d 00000 n \n" % off)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R /Info 7 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def acte_engagement() -> bytes:
    return make_pdf(
        f"Acte d'engagement - consultation n° {CONSULTATION}",
        [
            f"Acheteur : {BUYER}",
            f"Objet : {CONSULTATION_TITLE}",
            "Lot n° 1 : isolation thermique par l'extérieur",
            "",
            "Titulaire : Bâtiments Durand SARL (SIREN 552 100 554)",
            "Montant du marché : 184 350,00 € HT, soit 221 220,00 € TTC",
            "Délai d'exécution : 14 semaines à compter de l'ordre de service",
            "",
            "Le titulaire s'engage, conformément aux stipulations des documents",
            "de la consultation, à exécuter les prestations aux prix indiqués.",
        ],
        footer_box=True,
    )


def bpu() -> bytes:
    """Bordereau des prix unitaires, as the CSV many platforms ask for (UTF-8, ';')."""
    rows = [
        "N° prix;Désignation;Unité;Prix unitaire HT (€)",
        "1.1;Échafaudage de façade;m²;12,50",
        "1.2;Isolant laine de roche 140 mm;m²;38,90",
        "1.3;Enduit de finition gratté;m²;27,40",
        "1.4;Dépose et repose des descentes d'eau pluviale;ml;18,00",
    ]
    return ("\r\n".join(rows) + "\r\n").encode("utf-8")


@dataclass(frozen=True)
class SampleFile:
    name: str
    data: bytes


def dce_files() -> list[SampleFile]:
    rc = make_pdf(
        f"Règlement de la consultation n° {CONSULTATION}",
        [
            f"Pouvoir adjudicateur : {BUYER}",
            f"Objet : {CONSULTATION_TITLE}",
            "Procédure adaptée (articles L2123-1 et R2123-1 du code de la commande publique)",
            "Date limite de remise des plis : 15 décembre 2026 à 12h00",
            "Les plis sont déposés chiffrés sur la plateforme ; une copie de sauvegarde",
            "peut être transmise sur support physique dans les mêmes délais.",
            "Critères : prix (40 %), valeur technique (60 %).",
        ],
    )
    cctp = make_pdf(
        "Cahier des clauses techniques particulières",
        ["Isolation thermique par l'extérieur, R >= 3,7 m².K/W.", "Façades nord et ouest du groupe scolaire."],
    )
    return [
        SampleFile("RC - Règlement de la consultation.pdf", rc),
        SampleFile("CCTP.pdf", cctp),
        SampleFile("AE - Acte d'engagement.pdf", acte_engagement()),
        SampleFile("BPU.csv", bpu()),
    ]


def dce_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in dce_files():
            zf.writestr(zipfile.ZipInfo(f"DCE {CONSULTATION}/{f.name}", date_time=(2026, 11, 2, 9, 0, 0)), f.data)
    return out.getvalue()


def pes_aller(*, when: datetime | None = None) -> bytes:
    """A PES_Aller (mandats) in ISO-8859-1 with two bordereaux carrying Ids, as Hélios receives them."""
    day = (when or datetime.now(UTC)).strftime("%Y-%m-%d")
    bordereaux = []
    for number, (label, amount, tiers) in enumerate(
        (
            ("Mandats travaux école Jules-Ferry", "55305.00", "Bâtiments Durand SARL"),
            ("Mandats fournitures crèche « Les Hérons »", "1240.50", "Papèterie Léon"),
        ),
        start=1,
    ):
        bordereaux.append(
            f'    <Bordereau Id="BORD{number}">\r\n'
            f'      <BlocBordereau><Exer V="2026"/><IdBord V="{number}"/><DteBordEm V="{day}"/>'
            f'<TypBord V="01"/><MtBordHT V="{amount}"/><Libelle V="{label}"/></BlocBordereau>\r\n'
            f'      <Piece><BlocPiece><IdPce V="{100 + number}"/><ObjPce V="{CONSULTATION_TITLE}"/></BlocPiece>'
            f'<LigneDePiece><Tiers><InfoTiers><Nom V="{tiers}"/></InfoTiers></Tiers>'
            f'<BlocLignePiece><MtHT V="{amount}"/></BlocLignePiece></LigneDePiece></Piece>\r\n'
            "    </Bordereau>\r\n"
        )
    text = (
        '<?xml version="1.0" encoding="ISO-8859-1"?>\r\n'
        f'<n:PES_Aller xmlns:n="{PES_NS}" xmlns:xad="http://uri.etsi.org/01903/v1.2.2#">\r\n'
        f'  <EnTetePES><DteStr V="{day}"/><IdPost V="049012"/><IdColl V="21490123400011"/>'
        '<CodCol V="123"/><CodBud V="00"/><LibelleColBud V="COMMUNE DE SAINT-AUBIN-SUR-LOIRE"/></EnTetePES>\r\n'
        "  <PES_DepenseAller>\r\n"
        '    <EnTeteDepense><IdVer V="2"/><InfoDematerialisee V="0"/></EnTeteDepense>\r\n'
        + "".join(bordereaux)
        + "  </PES_DepenseAller>\r\n</n:PES_Aller>\r\n"
    )
    return text.encode("iso-8859-1")
