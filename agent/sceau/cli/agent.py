"""`sceau agent [--headless]` and `sceau install-manifests`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sceau.cli.common import add_token_options, fail, load_config
from sceau.config import Config
from sceau.errors import SceauError
from sceau.i18n import _
from sceau.protocol.constants import ExitCode
from sceau.ui.api import UserInterface
from sceau.ui.headless import HeadlessUI

if TYPE_CHECKING:
    from sceau.transports.ipc import SessionLock


log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("agent", help=_("run the agent (browser bridge)"))
    p.add_argument(
        "--headless",
        action="store_true",
        help=_("no tray nor dialogs: PIN from --pin-env, approval by --yes (tests, servers)"),
    )
    p.add_argument("--dev", action="store_true", help=_("dev mode: also accept http://localhost sites"))
    add_token_options(p)
    p.set_defaults(func=run_agent)

    m = subparsers.add_parser("install-manifests", help=_("register the native-messaging host with browsers"))
    m.add_argument(
        "--browser", action="append", choices=_browsers(), help=_("browser to register with (repeatable; default: all)")
    )
    m.add_argument("--system", action="store_true", help=_("system-wide (needs administrator rights)"))
    m.add_argument("--uninstall", action="store_true", help=_("remove the manifests"))
    m.add_argument("--host-path", metavar="PATH", help=_("native host executable (default: the installed one)"))
    m.add_argument(
        "--profile",
        metavar="DIR",
        type=Path,
        help=_("a Chrome-family profile folder (--user-data-dir) instead of the default location"),
    )
    m.set_defaults(func=run_install_manifests)


def _browsers() -> tuple[str, ...]:
    from sceau_native_host.manifests import BROWSERS

    return BROWSERS


def _ui(args: argparse.Namespace, config: Config) -> UserInterface:
    """Headless: answers from the command line. Otherwise the Tk dialogs (the tray comes with the
    desktop UI); GuiUnavailable says why when there is no display or no Tk."""
    if args.headless:
        return HeadlessUI(pin_env=args.pin_env or args.password_env, approve=args.yes)
    from sceau.ui.dialogs import TkUserInterface

    ui = TkUserInterface(timeout_s=config.consent_timeout_s)
    ui.start()
    return ui


def run_agent(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s sceau-agent %(message)s")
    try:
        config = load_config(args)
        if args.pkcs11_module:
            config = replace(config, pkcs11_modules=(*args.pkcs11_module, *config.pkcs11_modules))
        if args.pkcs12:
            config = replace(config, pkcs12_files=(*config.pkcs12_files, *args.pkcs12))
        if args.dev:
            config = replace(config, dev_mode=True)
        from sceau.store.prefs import apply_language

        apply_language(config)  # before any dialog or tray text is built
        from sceau.transports.ipc import SessionLock, lock_path
        from sceau.transports.unix import ensure_private_dir

        # One agent per session: take the lock before the slow parts (display, tokens), so a
        # second agent started at the same moment gives up at once.
        ensure_private_dir(config.runtime_path())
        lock = SessionLock(lock_path(config))
        lock.acquire()  # AgentAlreadyRunning
        try:
            ui = _ui(args, config)
            if args.headless:
                return asyncio.run(serve(config, ui, lock))
            return _run_desktop(config, ui, lock)
        finally:
            lock.release()
    except SceauError as exc:
        from sceau.transports.ipc import AgentAlreadyRunning

        if isinstance(exc, AgentAlreadyRunning):
            print(exc.message, file=sys.stderr)
            return ExitCode.ALREADY_RUNNING
        return fail(exc)


def _run_desktop(config: Config, ui: UserInterface, lock: SessionLock) -> int:
    """Tray on this (main) thread, asyncio transports in a worker thread (DESIGN.md §1)."""
    from sceau.ui.desktop import DesktopShell

    shell = DesktopShell(config, ui)
    result: list[int] = [ExitCode.OK]

    def worker() -> None:
        result[0] = asyncio.run(
            serve(config, ui, lock, on_agent=shell.attach, stop_event=shell.stop_event, journal=shell.journal)
        )

    shell.run(worker)
    return result[0]


async def serve(
    config: Config,
    ui: UserInterface,
    lock: SessionLock | None = None,
    *,
    on_agent: Callable[[Any, asyncio.AbstractEventLoop], None] | None = None,
    stop_event: threading.Event | None = None,
    journal: Any = None,
) -> int:
    """Run the IPC transport (and the WebSocket fallback when configured) until SIGTERM/SIGINT
    or `stop_event` (the tray's Quitter). `lock`: the session lock, already held (else the
    transport takes it). `on_agent(agent, loop)`: the desktop shell attaches there and then owns
    the card monitor; without it card events start here."""
    from sceau.app import build_agent
    from sceau.transports.ipc import IpcServer

    agent = build_agent(config, ui, journal=journal)
    ipc = IpcServer(agent, config, lock=lock)
    await ipc.start()
    agent.add_listener(ipc.broadcast)
    ws: Any = None
    if config.websocket_port:
        from sceau.siteconnect import ConnectionApprover
        from sceau.transports.websocket import WebSocketServer

        # First connection of a site not in the config list: asked in the agent's dialog, stored.
        approver = ConnectionApprover(config, agent.sites, agent.ui, lambda ask: agent.executor.run(None, ask))
        ws = WebSocketServer(agent, config, approver=approver)
        await ws.start()
        agent.add_listener(ws.broadcast)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        # Windows has no add_signal_handler; a worker thread (desktop mode) may not set handlers.
        with contextlib.suppress(NotImplementedError, AttributeError, ValueError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    if stop_event is not None:
        # Bridge the tray's threading.Event into this loop without polling.
        def relay_stop() -> None:
            stop_event.wait()
            with contextlib.suppress(RuntimeError):  # the loop already ended (signal, error)
                loop.call_soon_threadsafe(stop.set)

        threading.Thread(target=relay_stop, name="sceau-stop", daemon=True).start()
    log.info("listening on %s", ipc.path)
    server = asyncio.create_task(ipc.serve_forever())
    cards: Any = None
    if on_agent is not None:
        on_agent(agent, loop)
    else:
        from sceau.tokens.pcsc_monitor import start_card_events  # card insert/remove → pages

        cards = start_card_events(config, agent, loop)
    from sceau.trust.background import start_background_refresh  # EU trusted lists, once a day

    lists = start_background_refresh(config)
    try:
        await stop.wait()
    finally:
        lists.stop()
        if cards is not None:
            cards.stop()
        server.cancel()
        if ws is not None:
            await ws.close()
        await ipc.close()
        agent.close()
    return ExitCode.OK


def run_install_manifests(args: argparse.Namespace) -> int:
    from sceau_native_host import manifests

    browsers = tuple(args.browser) if args.browser else manifests.BROWSERS
    try:
        if args.uninstall:
            for path in manifests.uninstall(browsers, system=args.system, profile=args.profile):
                print(_("removed {path}").format(path=path))
        else:
            for path in manifests.install(browsers, system=args.system, host_path=args.host_path, profile=args.profile):
                print(_("wrote {path}").format(path=path))
    except manifests.ForeignManifest as exc:
        print(
            _("sceau: {path} was not written by Sceau ({reason}); left unchanged, remove it to register.").format(
                path=exc.path, reason=exc.reason
            ),
            file=sys.stderr,
        )
        return ExitCode.ERROR
    except FileNotFoundError as exc:
        print(_("sceau: {err}").format(err=exc), file=sys.stderr)
        return ExitCode.ERROR
    except PermissionError as exc:
        print(
            _("sceau: permission denied ({err}); --system needs administrator rights.").format(err=exc), file=sys.stderr
        )
        return ExitCode.ERROR
    return ExitCode.OK


def main(argv: list[str] | None = None) -> int:
    """`python -m sceau.cli.agent agent ...`: what the native host runs (no dependency on the full CLI)."""
    parser = argparse.ArgumentParser(prog="sceau")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
