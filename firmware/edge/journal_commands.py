"""Command dedup: the ids of the commands the device has run, remembered across restarts."""

from __future__ import annotations

import sqlite3
import time

from firmware.edge.journal_file import JournalFile


class CommandLog:
    """The ``commands_seen`` table of the journal ``file``: at most ``max_remembered`` ids,
    the newest kept."""

    def __init__(self, file: JournalFile, max_remembered: int) -> None:
        self.file = file
        self.max_remembered = max_remembered

    def remember(self, cmd_id: str) -> bool:
        """Remember a command id; False if it was seen before (a duplicate). While the storage
        fails nothing is remembered and every command counts as new."""

        def write(db: sqlite3.Connection) -> bool:
            new = (
                db.execute(
                    "INSERT OR IGNORE INTO commands_seen(cmd_id, seen_wall_s) VALUES (?, ?)",
                    (cmd_id, time.time()),
                ).rowcount
                == 1
            )
            if new:
                db.execute(
                    "DELETE FROM commands_seen WHERE cmd_id IN (SELECT cmd_id FROM commands_seen "
                    "ORDER BY seen_wall_s DESC LIMIT -1 OFFSET ?)",
                    (self.max_remembered,),
                )
            return new

        return self.file.link_write(write, True, durable=True)
