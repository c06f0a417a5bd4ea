"""Running an experiment: the config and its schema, the job grid, executors, the results store."""
