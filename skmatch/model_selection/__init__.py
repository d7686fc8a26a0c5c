"""Cross-validation splitters for interaction data (per-user and global time holdouts)."""

from skmatch.model_selection._split import LeaveLastOut, TemporalSplit, leave_last_out_split

__all__ = ["LeaveLastOut", "TemporalSplit", "leave_last_out_split"]
