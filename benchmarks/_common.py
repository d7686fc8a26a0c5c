"""Helpers shared by the benchmark scripts (machine description, peak RSS, Markdown tables)."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import resource
import shlex
import subprocess
import sys

# the separate venv of the anchor's docstring; never a dependency of skmatch
RECHUB_PYTHON = os.environ.get("RECHUB_PYTHON", "/work/.venv-rechub/bin/python")
RECBOLE_PYTHON = os.environ.get("RECBOLE_PYTHON", "/work/.venv-recbole/bin/python")


def peak_rss_mib() -> float:
    """Peak resident set size of this process in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_model() -> str:
    """The ``lscpu`` model name, else ``platform.processor()``."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown CPU"
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def machine() -> str:
    """One line: CPU model, cores, memory, Python and OS."""
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        mem_s = f", {mem:.0f} GiB RAM"
    except (ValueError, OSError):
        mem_s = ""
    return (
        f"{cpu_model()}, {os.cpu_count()} cores{mem_s}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def command_line() -> str:
    """The command that started this script, shell-quoted."""
    return "python " + " ".join(shlex.quote(a) for a in sys.argv)


def today() -> str:
    return _dt.datetime.now().strftime("%Y-%m-%d %H:%M")


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub Markdown table (all cells already formatted)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
