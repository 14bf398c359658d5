"""The labelled benchmark's loader, runner, baselines and report (`gate eval`)."""
