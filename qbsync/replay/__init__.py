"""Replaying a recorded Web Connector session against the current code (`qbsync replay`).

- :mod:`qbsync.recording` reads (and the connector server writes) the recording;
- :mod:`qbsync.replay.runner` plays it: the recorded store, the current service over HTTP, the
  shipped WebConnector, the recording's clock;
- :mod:`qbsync.replay.company` is the QuickBooks side, answering from the recording;
- :mod:`qbsync.replay.diff` compares what is sent now with what was recorded (pure, no IO);
- the report is rendered by the command, :mod:`qbsync.commands.replay`.
"""

from qbsync.replay.runner import ReplayResult, replay

__all__ = ["ReplayResult", "replay"]
