"""The level decision as a pure function of (chain, time, lists): history, qualifiers, QC statements."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sceau.devkit import trustlists as D
from sceau.trust import tsl as T
from sceau.trust.decide import CachedList, Level, TrustLists, evaluate

NOW = datetime.now(UTC)
CA, CA_KEY = D.self_signed("AC Décision")


def _lists(*history: D.State, svc_type: str = T.CA_QC) -> TrustLists:
    spec = D.ListSpec("FR", "op", services=[D.ServiceSpec("AC", CA, list(history), type=svc_type)])
    return TrustLists((CachedList(T.parse(D.sign(D.build(spec), CA, CA_KEY)), "u", NOW),))


def test_status_at_signing_time_from_history() -> None:
    lists = _lists(D.State(T.WITHDRAWN, NOW - timedelta(days=5)), D.State(T.GRANTED, NOW - timedelta(days=50)))
    cert, _ = D.issue_signer("A", CA, CA_KEY, not_before=NOW - timedelta(days=40))
    assert evaluate([cert], NOW - timedelta(days=10), lists).level is Level.QES  # granted then
    late = evaluate([cert], NOW, lists)
    assert late.level is Level.ADES and late.status == T.WITHDRAWN
    early = evaluate([cert], NOW - timedelta(days=100), lists)
    assert early.level is Level.ADES and "not yet listed" in early.reasons[0][0]


def test_qualifiers_override_the_certificate() -> None:
    # The list says: certificates under this policy are qualified, on a QSCD, for e-seals.
    lists = _lists(D.State(T.GRANTED, NOW - timedelta(days=5), qualifiers=["QCStatement", "QCWithQSCD", "QCForESeal"]))
    cert, _ = D.issue_signer("B", CA, CA_KEY, compliance=False, sscd=False, qc_type=None)
    assert evaluate([cert], NOW, lists).level is Level.QESEAL
    other, _ = D.issue_signer("C", CA, CA_KEY, compliance=False, sscd=False, qc_type=None, policies=["1.2.3.4"])
    assert evaluate([other], NOW, lists).level is Level.ADES  # the criteria (policy set) do not match
    no_qscd = _lists(D.State(T.GRANTED, NOW - timedelta(days=5), qualifiers=["QCNoQSCD"]))
    qes_cert, _ = D.issue_signer("D", CA, CA_KEY)
    assert evaluate([qes_cert], NOW, no_qscd).level is Level.ADES_QC


def test_service_kind_and_listing() -> None:
    cert, _ = D.issue_signer("E", CA, CA_KEY)
    seals_only = _lists(D.State(T.GRANTED, NOW - timedelta(days=5), additional=[T.FOR_ESEAL]))
    d = evaluate([cert], NOW, seals_only)
    assert d.level is Level.ADES and "not qualified for this kind" in d.reasons[0][0]
    pkc = _lists(D.State(T.GRANTED, NOW - timedelta(days=5)), svc_type="http://uri.etsi.org/TrstSvc/Svctype/CA/PKC")
    assert evaluate([cert], NOW, pkc).level is Level.ADES
    stranger_ca, stranger_key = D.self_signed("Autre AC")
    stranger, _ = D.issue_signer("F", stranger_ca, stranger_key)
    assert evaluate([stranger], NOW, seals_only).level is Level.NOT_LISTED


def test_rgs_level_from_policy() -> None:
    lists = _lists(D.State(T.GRANTED, NOW - timedelta(days=5)))
    lists = TrustLists(lists.lists, rgs_policies={"1.2.250.1.999": "***"})
    cert, _ = D.issue_signer("G", CA, CA_KEY)
    assert evaluate([cert], NOW, lists).rgs == "***"


def test_lists_pickle_for_a_worker_process() -> None:
    """Verification may run in a worker process: the lists travel as their validated bytes."""
    import pickle

    spec = D.ListSpec("FR", "op", services=[D.ServiceSpec("AC", CA, [D.State(T.GRANTED, NOW - timedelta(days=5))])])
    raw = D.sign(D.build(spec), CA, CA_KEY)
    lists = TrustLists((CachedList(T.parse(raw), "u", NOW, raw),), rgs_policies={"1.2": "*"})
    cert, _ = D.issue_signer("H", CA, CA_KEY)
    assert evaluate([cert], NOW, lists).level is Level.QES
    assert lists.anchors_for([cert.issuer.public_bytes()]) == [CA]  # builds the subject index
    copy = pickle.loads(pickle.dumps(lists))
    assert evaluate([cert], NOW, copy).level is Level.QES and copy.rgs_policies == {"1.2": "*"}


def test_directive_era_qualifier_names() -> None:
    """Lists still carry the Directive 1999/93/EC names (QCWithSSCD, QCNoSSCD), e.g. the French list."""
    cert, _ = D.issue_signer("I", CA, CA_KEY, sscd=False)
    with_sscd = _lists(D.State(T.GRANTED, NOW - timedelta(days=5), qualifiers=["QCWithSSCD"]))
    assert evaluate([cert], NOW, with_sscd).level is Level.QES
    qes, _ = D.issue_signer("J", CA, CA_KEY)
    no_sscd = _lists(D.State(T.GRANTED, NOW - timedelta(days=5), qualifiers=["QCNoSSCD"]))
    assert evaluate([qes], NOW, no_sscd).level is Level.ADES_QC


def test_expired_cached_list_is_said() -> None:
    from sceau.trust.report import qualification_lines

    spec = D.ListSpec(
        "FR",
        "op",
        next_update=NOW - timedelta(days=1),
        services=[D.ServiceSpec("AC", CA, [D.State(T.GRANTED, NOW - timedelta(days=30))])],
    )
    lists = TrustLists((CachedList(T.parse(D.sign(D.build(spec), CA, CA_KEY)), "u", NOW - timedelta(days=40)),))
    cert, _ = D.issue_signer("K", CA, CA_KEY)
    d = evaluate([cert], NOW, lists)
    assert d.list_expired and d.level is Level.QES
    lines = qualification_lines(d, "fr")
    assert any("a dépassé sa date de mise à jour" in line for line in lines), lines
