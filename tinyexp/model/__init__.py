"""Model sources: the networks tinyexp builds, trains and converts."""
