"""One module per stage of the study graph; each exposes ``run(cfg, ...)``."""
