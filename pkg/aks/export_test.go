package aks

import "time"

// Exported for the external tests, which run against azurefake's fleet;
// azurefake imports this package, so they cannot be internal tests.
var (
	ToCluster           = toCluster
	ToMaintenanceConfig = toMaintenanceConfig
)

// SetPollEvery sets the wait between polls when ARM names none.
func SetPollEvery(c *Client, d time.Duration) { c.pollEvery = d }
