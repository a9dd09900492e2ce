"""Layer 7: ``LRMonitor``, logging the lr of every param group of every optimizer."""
