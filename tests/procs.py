"""Test helper: the process tree from /proc (Linux), to find the processes a process left behind."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class Proc:
    """One process as /proc/PID/stat shows it; ``start`` (clock ticks after boot) tells a reused pid apart."""

    pid: int
    ppid: int
    session: int
    state: str
    start: int
    name: str


def _read(pid: int) -> Proc | None:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:  # gone since the listing
        return None
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2 :].split()  # fields 3.. of proc(5): the name may hold spaces
    return Proc(pid, int(fields[1]), int(fields[3]), fields[0], int(fields[19]), name)


def processes() -> dict[int, Proc]:
    """Every process now alive (zombies, which are dead and only wait to be reaped, left out), by pid."""
    table = {}
    for entry in os.listdir(PROC):
        if entry.isdigit() and (p := _read(int(entry))) is not None and p.state != "Z":
            table[p.pid] = p
    return table


def descendants(pid: int, table: dict[int, Proc] | None = None) -> list[Proc]:
    """The children of ``pid``, their children and so on."""
    table = processes() if table is None else table
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for p in table.values():
            if p.ppid == parent:
                found.append(p)
                todo.append(p.pid)
    return found


def in_session(sid: int) -> list[Proc]:
    """The processes of session ``sid``: all that its leader started, orphans included, unless one left the session."""
    return [p for p in processes().values() if p.session == sid]


def still_alive(procs: list[Proc]) -> list[Proc]:
    """Those of ``procs`` still running (the same process, not a new one that got its pid)."""
    table = processes()
    return list({p.pid: p for p in procs if p.pid in table and table[p.pid].start == p.start}.values())


def describe(procs: list[Proc]) -> str:
    """One line per process: pid and command line, for a failure message."""
    lines = []
    for p in procs:
        try:
            command = (PROC / str(p.pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            command = f"({p.name}, gone)"
        lines.append(f"{p.pid}: {command.strip()[:200]}")
    return "\n".join(lines)
