"""Pure models of the twin: no store access, no I/O beyond the shipped data files."""
