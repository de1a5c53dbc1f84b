"""Before a run: the dry-run plan, the per-GPU memory estimate and the preflight checks. Nothing here
loads weights or writes into a run directory."""
