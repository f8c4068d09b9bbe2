"""Figures (matplotlib, no display needed): embedding scatters and decoder checks; each function returns a Figure."""
