"""The run configuration: its typed sections with the paper's defaults (`schema`), how a YAML file
and dotted overrides become one (`load`), which devices each stage, engine and server gets
(`devices`), and the configs rzero ships (`shipped/`, linked from the repository's `configs/`)."""
