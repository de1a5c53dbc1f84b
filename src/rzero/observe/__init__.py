"""Reading a run: metrics files, drift alerts, tables, the HTML report, the labelled probe. These
modules read records; they never start a stage or load a model for training."""
