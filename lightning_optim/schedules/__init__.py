"""Learning-rate schedules of this package: small LRScheduler classes and pure functions of the step."""
