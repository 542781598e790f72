"""The tunasync worker: config, scheduler, job state machine, providers, hooks, control server."""
