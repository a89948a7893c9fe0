"""Probe tables and the progress line shown while probes run on a terminal."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from provision.probe import Endpoint, Verdict
from provision.report import Output

_COLORS = {"ok": "green", "throttled": "yellow", "unverified": "yellow", "skipped": "dim"}


def table(out: Output, verdicts: Sequence[Verdict]) -> None:
    rows = [("ADDRESS", "URL", "VERDICT", "STATUS", "LATENCY", "DETAIL")]
    for v in verdicts:
        detail = v.reason + (f" — {v.hint}" if v.hint and not v.passed else "")
        if v.model_count is not None and v.outcome == "ok":
            detail = f"{v.model_count} models"
        if not v.required and not v.passed:
            detail += " (not required)"
        rows.append((v.address, v.url, v.outcome, str(v.status or "-"),
                     f"{v.latency_ms:.0f} ms" if v.status is not None else "-", detail))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for i, r in enumerate(rows):
        cells = [c.ljust(w) for c, w in zip(r[:5], widths, strict=True)]
        if i:
            color = _COLORS.get(r[2], "red")
            cells[2] = out.style(cells[2], color, "bold")
        out.out("  " + "  ".join(cells) + "  " + r[5])


def planned(out: Output, endpoints: Sequence[Endpoint]) -> None:
    if not endpoints:
        return
    out.out("")
    out.out("Probes apply will run before writing anything:")
    for e in endpoints:
        required = "" if e.options.required else " (not required)"
        state = "skipped: probe.enabled is false" if not e.options.enabled else e.recipe.name
        out.out(f"  {e.address}  {e.effective_base_url}  [{state}]{required}")


def progress(out: Output, total: int) -> Callable[[Verdict], None] | None:
    """A one-line counter on a terminal's stderr; nothing when stderr is not a terminal."""
    if not out.stderr.isatty() or total == 0:
        return None
    done = 0

    def tick(v: Verdict) -> None:
        nonlocal done
        done += 1
        end = "\n" if done == total else ""
        out.stderr.write(f"\r  probing {done}/{total} endpoints… {v.address}: {v.outcome}"
                         f"\x1b[K{end}")
        out.stderr.flush()

    return tick
