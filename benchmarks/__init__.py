"""towpath benchmarks: scripts run against raw baselines in the same run (ratios, not absolute times)."""
