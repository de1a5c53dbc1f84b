"""rzero: R-Zero self-evolving reasoning (Challenger-Solver co-evolution from zero human data)."""

__version__ = "0.1.0"
