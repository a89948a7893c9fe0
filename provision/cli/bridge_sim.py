"""`provision bridge-sim`: a local Coder deployment with AI Bridge, for demos and CI dry runs."""

from __future__ import annotations

import contextlib
import secrets
import signal
import string
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import FrameType

import click

from provision.cli._common import output
from provision.fsutil import atomic_write
from provision.report import Output
from provision.secrets import MASK, Secret
from provision.spec.build import is_loopback

TOKEN_ENV = "PROVISION_BRIDGE_SIM_TOKEN"
_ALPHANUMERIC = string.ascii_letters + string.digits


# SIGHUP is its terminal closing; under nohup it is ignored and stays so.
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class _Stop(Exception):
    """Raised by the stop signals' handler to end the wait (and anything before it)."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP end the block quietly (exit 0), except a signal that was
    ignored when it started; the old handlers come back after."""
    previous = {sig: signal.signal(sig, _raise_stop) for sig in _STOP_SIGNALS
                if signal.getsignal(sig) is not signal.SIG_IGN}
    try:
        yield
    except _Stop:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _generated_token() -> str:
    """A token shaped like a Coder API key (10-character ID, 22-character secret)."""

    def part(length: int) -> str:
        return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(length))

    return f"{part(10)}-{part(22)}"


def _token(given: str | None, token_file: Path | None) -> Secret:
    if given:
        if token_file is not None:
            raise click.UsageError("--token-file receives a generated token; a token was given")
        return Secret(given)
    if token_file is None:
        raise click.UsageError(
            f"give a token with --token or {TOKEN_ENV}, or --token-file PATH to receive a "
            "generated one"
        )
    return Secret(_generated_token())


def _share_token(secret: Secret, token_file: Path | None) -> str:
    """Where the token is, never what; a generated one goes to its file (mode 0600) only."""
    if token_file is None:
        return f"  token: {MASK} (from --token or {TOKEN_ENV})"
    atomic_write(token_file, (secret.reveal() + "\n").encode(), 0o600)
    return f"  token: {MASK} (generated; written to {token_file}, mode 0600)"


def _announce(out: Output, notes: list[str], url: str, instances: Mapping[str, str]) -> None:
    """The start-up lines: the notes and each instance's URL on stderr, the base URL on stdout."""
    for note in notes:
        out.err(note)
    out.out(f"bridge-sim listening on {url}")
    for name, kind in instances.items():
        suffix = "/v1" if kind == "openai" else ""
        out.err(f"  {kind} instance {name}: {url}/api/v2/aibridge/{name}{suffix}")


@click.command("bridge-sim")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind (an IPv6 one with or without brackets).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Port to bind; 0 picks a free one.",
)
@click.option(
    "--token",
    envvar=TOKEN_ENV,
    show_envvar=True,
    metavar="TOKEN",
    help="The one token the simulator accepts (prefer the environment variable: "
    "command lines are visible to other users).",
)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Generate a token and write it here (mode 0600) instead.",
)
@click.option(
    "--latency",
    type=click.FloatRange(0),
    default=0.0,
    metavar="SECONDS",
    help="Delay every answer.",
)
@click.option(
    "--fail-429",
    type=click.IntRange(0),
    default=0,
    metavar="N",
    help="The first N bridge requests get 429 with Retry-After.",
)
@click.option(
    "--fail-5xx",
    type=click.IntRange(0),
    default=0,
    metavar="N",
    help="The next N bridge requests get 502.",
)
@click.option("--redirect", metavar="URL", help="Bridge requests get a 307 to URL.")
@click.option("--html", is_flag=True, help="Bridge requests get 200 with an HTML page.")
@click.option(
    "--slow-start",
    type=click.FloatRange(0),
    default=0.0,
    metavar="SECONDS",
    help="Answer nothing for this long after starting (connections wait).",
)
@click.option(
    "--instance",
    "instances",
    multiple=True,
    metavar="NAME=TYPE",
    help="An extra AI Bridge instance (TYPE openai or anthropic); repeatable.",
)
@click.option(
    "--ready-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the base URL here once bound, for scripts to wait on; removed on exit.",
)
@click.option("--allow-remote", is_flag=True, help="Allow a --host that is not loopback.")
@click.pass_context
def command(
    ctx: click.Context,
    host: str,
    port: int,
    token: str | None,
    token_file: Path | None,
    latency: float,
    fail_429: int,
    fail_5xx: int,
    redirect: str | None,
    html: bool,
    slow_start: float,
    instances: tuple[str, ...],
    ready_file: Path | None,
    allow_remote: bool,
) -> int:
    """Serve a stand-in Coder deployment with AI Bridge until SIGINT, SIGTERM or SIGHUP.

    Answers /api/v2/buildinfo, /api/v2/users/me and /api/v2/aibridge/<instance>/v1/models as a
    real deployment does, with switches to inject faults. Prints one line, "bridge-sim listening
    on URL", on stdout; never prints the token.
    """
    out = output(ctx)
    notes = []
    if not is_loopback(host):
        if not allow_remote:
            raise click.UsageError(
                f"refusing to bind {host}, which is not loopback, without --allow-remote"
            )
        notes.append(
            out.style("warning:", "yellow", "bold", err=True)
            + f" bridge-sim on {host} is reachable from other hosts; it is a test double"
        )
    extra = dict(_instance(spec) for spec in instances)
    secret = _token(token, token_file)

    from provision.probe.bridgesim import BridgeSim

    bind = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        sim = BridgeSim(
            secret.reveal(),
            host=bind,
            port=port,
            latency=latency,
            fail_429=fail_429,
            fail_5xx=fail_5xx,
            redirect=redirect,
            html=html,
            slow_start=slow_start,
            instances=extra,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    notes.append(_share_token(secret, token_file))
    wrote_ready = False
    unheard: OSError | None = None
    with _stop_on_signals():
        try:
            try:
                url = sim.start()
            except OSError as exc:
                shown = f"[{bind}]" if ":" in bind else bind
                raise click.ClickException(
                    f"cannot listen on {shown}:{port}: {exc.strerror or exc}"
                ) from exc
            if ready_file is not None:
                atomic_write(ready_file, (url + "\n").encode(), 0o644)
                wrote_ready = True
            try:
                _announce(out, notes, url, sim.instances)
            except OSError as exc:  # its terminal or pipe went away (EIO, EPIPE): no one hears
                unheard = exc
            while unheard is None:  # each pause ends with a signal; a stop signal raises _Stop
                signal.pause()
        finally:
            # A signal arriving now waits until the sim is down and the ready file gone.
            stopping = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
            try:
                sim.stop()
                if wrote_ready and ready_file is not None:
                    ready_file.unlink(missing_ok=True)
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, stopping)
    # The last line is best-effort: its terminal may be gone by now (EIO, EPIPE).
    with contextlib.suppress(OSError):
        if unheard is None:
            out.err("bridge-sim stopped")
        else:
            out.err(f"error: bridge-sim stopped: its output went away ({unheard.strerror})")
    # Stopped after serving until signalled is success. Stopped before anyone learnt where it
    # serves is not: exit 1, quietly, as main() and run() end any command whose output goes.
    return 0 if unheard is None else 1


def _instance(spec: str) -> tuple[str, str]:
    name, eq, kind = spec.partition("=")
    if not eq:
        raise click.BadParameter(f"{spec!r} is not NAME=TYPE", param_hint="--instance")
    return name, kind
