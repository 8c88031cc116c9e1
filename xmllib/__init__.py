"""xmllib."""
