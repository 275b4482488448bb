"""tinyexp's Hydra plugin: the farm launcher (hydra/launcher=farm). Hydra accepts a launcher
only from the hydra_plugins namespace; the logic lives in tinyexp.cli.farm_launch."""
