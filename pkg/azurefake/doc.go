// Package azurefake is the one simulated Azure that the demo, simulate and
// the tests run the guard against, with no Azure account: AKS clusters and
// their change history (Fleet, through the armcontainerservice and
// armresourcegraph fake servers), Azure RBAC (RBAC, through the
// armauthorization fake servers) and Microsoft Graph (Graph, an httptest TLS
// server, since Graph has no SDK fake). The adapters in pkg/aks, pkg/rbac,
// pkg/graph and pkg/resourcegraph talk to it exactly as they talk to Azure.
//
// Faults is the one place failures are injected: every simulated service
// consults it on each call, by SDK operation or by target (arm-read,
// arm-put, graph, change-history, roles), counted or for a time on the
// simulated clock.
//
// Where Microsoft's documentation says how Azure behaves, the simulator
// behaves that way; where it is silent, the simulator can behave either way
// (SetTagsKeepETag, SetChangeDelay) so that tests run both.
package azurefake
