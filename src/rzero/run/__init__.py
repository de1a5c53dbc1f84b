"""The run: the loop of the paper's iteration and how it runs (stage glue, stage processes, servers,
other nodes, the run directory's lock). Reads top-down: loop | worker, launch | pipeline, servers,
inputs | runlock (pyproject.toml, contract "run")."""
