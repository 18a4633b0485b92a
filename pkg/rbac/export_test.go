package rbac

// SubscriptionClients returns how many subscriptions c holds SDK clients
// for, for the external tests (which run against azurefake's RBAC, and
// azurefake imports this package).
func SubscriptionClients(c *Client) int { return c.apis.Len() }
