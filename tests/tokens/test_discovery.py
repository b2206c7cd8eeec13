"""Module discovery: p11-kit's registry read from a throw-away config dir, the vendor table, the origins."""

from __future__ import annotations

import os
from pathlib import Path

from sceau.devkit import softhsm
from sceau.tokens.discovery import (
    KNOWN_MODULES,
    Origin,
    discover_modules,
    module_sources,
    p11kit_list_modules,
    p11kit_modules,
)
from sceau.tokens.pkcs11 import Pkcs11Backend


def _registry(tmp_path: Path, softhsm_module: str) -> tuple[Path, Path, Path]:
    """System dir, user dir and p11-kit module dir of a fake machine that registered SoftHSM2."""
    system, user, libdir = tmp_path / "share", tmp_path / "user", tmp_path / "lib"
    for d in (system, user, libdir):
        d.mkdir()
    os.symlink(softhsm_module, libdir / "libsofthsm2.so")
    (system / "softhsm2.module").write_text("# SoftHSM2, relative path\nmodule: libsofthsm2.so\npriority: 5\n")
    (system / "trust.module").write_text("module: /nonexistent/p11-kit-trust.so\ntrust-policy: yes\n")
    (system / "other.module").write_text(f"module: {softhsm_module}\ndisable-in: sceau firefox\n")
    (system / "onlyff.module").write_text(f"module: {softhsm_module}\nenable-in: firefox\n")
    (user / "broken.module").write_text("module: /nonexistent/libvendor.so\n")
    return system, user, libdir


def test_p11kit_registry_from_a_throwaway_config_dir(tmp_path: Path, softhsm_module: str) -> None:
    system, user, libdir = _registry(tmp_path, softhsm_module)
    modules = {m.name: m for m in p11kit_modules([system, user], [libdir])}
    assert set(modules) == {"softhsm2", "trust", "other", "onlyff", "broken"}
    assert modules["softhsm2"].path == str(libdir / "libsofthsm2.so")  # relative path resolved
    assert modules["softhsm2"].priority == 5
    assert modules["trust"].trust_policy
    assert not modules["other"].enabled and not modules["onlyff"].enabled  # enable-in / disable-in
    # The user's file overrides the system's entry of the same name.
    (user / "softhsm2.module").write_text("disable-in: sceau\n")
    assert not next(m for m in p11kit_modules([system, user], [libdir]) if m.name == "softhsm2").enabled


def test_discovered_softhsm_is_usable_and_says_where_it_came_from(tmp_path: Path, softhsm_module: str) -> None:
    system, user, libdir = _registry(tmp_path, softhsm_module)
    found = [m for m in discover_modules(p11kit_dirs=[system, user], p11kit_module_dirs=[libdir])]
    p11kit = [m for m in found if m.origin == Origin.P11KIT]
    # Only the enabled, existing, non-trust module; mapped to its vendor-table entry.
    assert [(m.path, m.vendor) for m in p11kit] == [(str(libdir / "libsofthsm2.so"), "SoftHSM")]
    assert p11kit[0].detail == str(system / "softhsm2.module")
    # The same file is not listed again by the vendor table.
    assert not any(os.path.realpath(m.path) == os.path.realpath(softhsm_module) for m in found[1:])
    backend = Pkcs11Backend([p11kit[0].path])
    try:
        assert softhsm.TOKEN_LABEL in [t.info.label for t in backend.tokens()]
    finally:
        backend.close()
    without = discover_modules(False, p11kit_dirs=[system, user], p11kit_module_dirs=[libdir])
    assert all(m.vendor != "SoftHSM" for m in without)


def test_configured_modules_come_first_and_rank_best(tmp_path: Path, softhsm_module: str) -> None:
    system, user, libdir = _registry(tmp_path, softhsm_module)
    sources = module_sources(["/opt/vendor/libx.so"], p11kit_dirs=[system, user], p11kit_module_dirs=[libdir])
    assert (sources[0].path, sources[0].origin, sources[0].rank) == ("/opt/vendor/libx.so", Origin.CONFIG, 0)
    assert sources[1].origin == Origin.P11KIT and sources[1].rank == 2  # SoftHSM2 is generic
    # A configured module is not listed a second time by discovery.
    again = module_sources([softhsm_module], p11kit_dirs=[system, user], p11kit_module_dirs=[libdir])
    assert [m.origin for m in again if os.path.realpath(m.path) == os.path.realpath(softhsm_module)] == [Origin.CONFIG]


def test_vendor_table_states_its_sources() -> None:
    assert all(m.source for m in KNOWN_MODULES), [m.vendor for m in KNOWN_MODULES if not m.source]
    vendors = {m.vendor for m in KNOWN_MODULES}
    assert {"Thales (SafeNet)", "Thales (Gemalto)", "IDEMIA (Oberthur)", "bit4id", "Idopte"} <= vendors


def test_p11kit_list_modules_cross_check() -> None:
    listed = p11kit_list_modules()
    if listed is None:
        return  # no p11-kit command here: nothing to cross-check
    registered = {m.name for m in p11kit_modules() if m.enabled}
    assert registered <= set(listed) | {m.name for m in p11kit_modules() if not os.path.exists(m.path)}
