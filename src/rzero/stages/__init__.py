"""The paper's steps, one module each: challenger (GRPO on C against the frozen S), curriculum
(pool, votes, band), solver (GRPO on the pseudo-labels), evaluate (exact answers, evaluation only).
A stage never imports another stage (pyproject.toml, contract "stages"); `rzero.run.pipeline`
passes values and paths between them."""
