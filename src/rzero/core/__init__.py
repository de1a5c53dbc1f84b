"""The pure shared parts every layer above may use: domains (surface forms), rewards, voting, the
sampling protocol, records between stages, the run directory's layout, math-verify in a process pool,
benchmark loaders. Nothing here imports from another rzero layer."""
