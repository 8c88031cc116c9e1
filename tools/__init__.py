"""Scripts that maintain this repository (run by the Makefile, tested, not installed with xmllib)."""
