"""Open a report.html in headless Chromium with the network off; screenshot it; fail on
console errors.

    python benchmarks/report_screenshot.py results/quickstart/report.html \
        --out docs/images/quickstart_report.png

Two runs of ``chromium --headless``, both with every network route closed (a proxy on
a closed local port, host names resolving nowhere, background networking off; inside
``unshare --net`` too where the kernel allows it, which leaves no network interface
but loopback):

1. ``--screenshot``: the page as a reader first sees it, saved as a PNG;
2. the page at ``#optbench-selftest``: its script sorts a table, filters rows and picks
   a solver, then logs ``optbench-selftest: ok <n> svg``. Console messages are read
   from ``--enable-logging=stderr --v=0``, and every request the browser starts is
   recorded with ``--log-net-log``; the requests made for the page (network isolation
   key ``file://``; the browser's own background requests have other keys) must all
   be ``file:`` or ``data:`` URLs, and none is expected.

Exit status 1, with the offending lines, when the console shows an error (a script
error, a resource that failed to load, any blocked request), the page asked for
anything over a network, or the self-test line is missing; 0 otherwise. Chromium is
not a dependency of optbench: install it with ``apt-get install chromium`` (or point
``--chromium`` at a Chrome binary).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

#: Flags that close every network route of the browser.
OFFLINE = [
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
]
#: A console message as Chromium logs it to stderr with ``--enable-logging=stderr``.
CONSOLE = re.compile(r"CONSOLE[^\]]*\]\s*(?P<message>.*)")
#: Console messages that are errors: script errors and failed or blocked loads.
ERROR = re.compile(
    r"Uncaught|Error|error|Failed to load|net::ERR_|Refused to|blocked", re.IGNORECASE
)


def browser(explicit: str | None) -> str:
    """The Chromium (or Chrome) binary to run."""
    for name in [explicit] if explicit else ["chromium", "chromium-browser", "google-chrome"]:
        found = shutil.which(name) if name else None
        if found:
            return found
    raise SystemExit("no chromium found: apt-get install chromium, or pass --chromium PATH")


def offline_prefix() -> list[str]:
    """``unshare --net`` (no network interface) where it works, else nothing."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "--net", "true"], capture_output=True).returncode == 0:
        return [unshare, "--net"]
    return []


def run_browser(binary: str, url: str, extra: list[str], profile: Path) -> str:
    """Run headless Chromium on ``url``; return its stderr (the console log)."""
    command = [
        *offline_prefix(),
        binary,
        "--headless",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        *OFFLINE,
        *extra,
        url,
    ]
    if os.geteuid() == 0:
        command.insert(command.index(binary) + 1, "--no-sandbox")
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    return done.stderr


def console_messages(log: str) -> list[str]:
    """The console messages in a Chromium stderr log."""
    return [m["message"] for m in map(CONSOLE.search, log.splitlines()) if m]


def page_requests(net_log: Path) -> list[str]:
    """URLs other than ``file:``/``data:`` that the page (not the browser) requested."""
    try:
        events = json.loads(net_log.read_text(encoding="utf-8"))["events"]
    except (OSError, ValueError, KeyError):
        return [f"no readable net log at {net_log}"]
    found = []
    for event in events:
        params = event.get("params") or {}
        url, key = params.get("url"), str(params.get("network_isolation_key", ""))
        if url and key.startswith("file://") and not url.startswith(("file:", "data:")):
            found.append(url)
    return sorted(set(found))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", type=Path, help="a report.html")
    parser.add_argument("--out", type=Path, help="where to save the PNG screenshot")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=1800)
    parser.add_argument("--chromium", help="the browser binary (default: chromium on PATH)")
    args = parser.parse_args(argv)
    report = args.report.resolve()
    if not report.is_file():
        print(f"{report}: no such file", file=sys.stderr)
        return 2
    binary = browser(args.chromium)
    url = report.as_uri()
    errors: list[str] = []
    with tempfile.TemporaryDirectory() as scratch:
        if args.out is not None:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            shot = Path(scratch) / "shot.png"
            size = f"--window-size={args.width},{args.height}"
            log = run_browser(binary, url, [size, f"--screenshot={shot}"], Path(scratch) / "a")
            errors += [m for m in console_messages(log) if ERROR.search(m)]
            if not shot.is_file():
                errors.append(f"no screenshot written; browser log ends:\n{log[-2000:]}")
            else:
                shutil.copyfile(shot, args.out)
                print(f"screenshot: {args.out} ({args.out.stat().st_size} bytes)")
        net_log = Path(scratch) / "net.json"
        log = run_browser(
            binary,
            url + "#optbench-selftest",
            ["--dump-dom", "--virtual-time-budget=5000", f"--log-net-log={net_log}"],
            Path(scratch) / "b",
        )
        requests = page_requests(net_log)
    errors += [f"the page requested {request}" for request in requests]
    messages = console_messages(log)
    errors += [m for m in messages if ERROR.search(m)]
    selftest = [m for m in messages if "optbench-selftest: ok" in m]
    if not selftest:
        errors.append("the page's script did not log 'optbench-selftest: ok'")
    print(f"report: {report} ({report.stat().st_size / 1e6:.2f} MB)")
    print(f"console: {len(messages)} messages; network requests by the page: {len(requests)}")
    print(f"errors: {len(errors)}")
    for line in selftest:
        print(f"  {line}")
    for line in errors:
        print(f"  ERROR {line}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
