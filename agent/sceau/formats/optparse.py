"""Format options from request JSON (batch options overridden per document), validated strictly."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sceau.errors import BadRequest
from sceau.formats.pades import DOCMDP, PadesOptions, VisibleSignature
from sceau.formats.pes import PesOptions
from sceau.i18n import _

MAX_TEXT = 200


def _merged(batch: Mapping[str, Any], doc: Mapping[str, Any], key: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for source in (batch.get(key), doc.get(key)):
        if source is None:
            continue
        if not isinstance(source, Mapping):
            raise BadRequest(_("'options.{key}' must be an object.").format(key=key))
        out.update(source)
    return out


def _text(opts: Mapping[str, Any], name: str, default: str = "") -> str:
    value = opts.get(name, default)
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise BadRequest(_("'{name}' must be a short text.").format(name=name))
    return value


def _bool(opts: Mapping[str, Any], name: str) -> bool:
    value = opts.get(name, False)
    if not isinstance(value, bool):
        raise BadRequest(_("'{name}' must be true or false.").format(name=name))
    return value


def _int(value: object, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequest(
            _("'{name}' must be an integer between {low} and {high}.").format(name=name, low=low, high=high)
        )
    return value


def pades_options(batch: Mapping[str, Any], doc: Mapping[str, Any]) -> PadesOptions:
    o = _merged(batch, doc, "pades")
    docmdp = _text(o, "docmdp", "fill-forms")
    if docmdp not in DOCMDP:
        raise BadRequest(_("'docmdp' must be one of: {values}.").format(values=", ".join(DOCMDP)))
    visible = None
    if o.get("visible") is not None:
        v = o["visible"]
        if not isinstance(v, Mapping):
            raise BadRequest(_("'visible' must be an object."))
        box_raw = v.get("box", [50, 50, 300, 120])
        if not isinstance(box_raw, list) or len(box_raw) != 4:
            raise BadRequest(_("'box' must be [x1, y1, x2, y2]."))
        box = tuple(_int(b, "box", 0, 20000) for b in box_raw)
        if box[2] <= box[0] or box[3] <= box[1]:
            raise BadRequest(_("'box' must be [x1, y1, x2, y2] with x2 > x1 and y2 > y1."))
        visible = VisibleSignature(
            page=_int(v.get("page", 1), "page", -10000, 10000),
            box=(box[0], box[1], box[2], box[3]),
            text=_text(v, "text"),
        )
        if visible.page == 0:
            raise BadRequest(_("'page' starts at 1 (or -1 for the last page)."))
    return PadesOptions(
        field_name=_text(o, "fieldName"),
        reason=_text(o, "reason"),
        location=_text(o, "location"),
        contact=_text(o, "contact"),
        certify=_bool(o, "certify"),
        docmdp=docmdp,
        visible=visible,
    )


def pes_options(batch: Mapping[str, Any], doc: Mapping[str, Any]) -> PesOptions:
    o = _merged(batch, doc, "pes")
    ids = o.get("bordereaux")
    if ids is not None and (not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids)):
        raise BadRequest(_("'bordereaux' must be a list of Bordereau Ids."))
    return PesOptions(
        bordereaux=ids,
        whole=_bool(o, "whole"),
        claimed_role=_text(o, "claimedRole", "Ordonnateur"),
        city=_text(o, "city"),
        postal_code=_text(o, "postalCode"),
        country=_text(o, "country", "France"),
    )
