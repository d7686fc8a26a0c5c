"""Private helpers shared by the sub-packages (no torch)."""
