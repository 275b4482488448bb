"""tinyexp's search sweeper (hydra/sweeper=search). Hydra accepts a sweeper only from the
hydra_plugins namespace; the logic lives in tinyexp.cli.search_sweeper."""
