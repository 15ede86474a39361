"""Server-initiated work-done progress (`$/progress`) for model loading and scans."""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

from lsprotocol import types

if TYPE_CHECKING:
    from caveat.server.server import CaveatServer

logger = logging.getLogger(__name__)


class WorkDone:
    """One progress bar in the client; `report` and `end` may be called from any thread.

    Does nothing when the client did not announce `window.workDoneProgress` support.
    """

    def __init__(self, server: CaveatServer, title: str) -> None:
        """Prepare a progress bar titled `title` (nothing is sent until `begin`)."""
        self.server = server
        self.title = title
        self.token = f"caveat/{uuid.uuid4().hex[:12]}"
        self.active = False
        self._last_percent = -1

    def _supported(self) -> bool:
        """Whether the client accepts server-initiated progress."""
        caps = self.server.client_capabilities
        return bool(caps.window and caps.window.work_done_progress)

    async def begin(self, message: str | None = None) -> None:
        """Create the token with the client and show the bar at 0%."""
        if not self._supported():
            return
        try:
            await self.server.work_done_progress.create_async(self.token)
        except Exception as exc:  # a client may refuse; progress is optional
            logger.debug("work done progress refused: %s", exc)
            return
        self.active = True
        self.server.work_done_progress.begin(
            self.token,
            types.WorkDoneProgressBegin(title=self.title, message=message, percentage=0),
        )

    def report(self, message: str, fraction: float) -> None:
        """Update the bar; repeated equal percentages are not re-sent."""
        if not self.active:
            return
        percent = max(0, min(100, int(fraction * 100)))
        if percent == self._last_percent:
            return
        self._last_percent = percent
        value = types.WorkDoneProgressReport(message=message, percentage=percent)
        self.server.call_soon(self.server.work_done_progress.report, self.token, value)

    def end(self, message: str | None = None) -> None:
        """Close the bar."""
        if not self.active:
            return
        self.active = False
        value = types.WorkDoneProgressEnd(message=message)
        self.server.call_soon(self.server.work_done_progress.end, self.token, value)
