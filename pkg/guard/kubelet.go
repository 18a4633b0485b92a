package guard

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Per Microsoft's docs and the Azure CLI, the control plane and add-ons
// move to the managed identity with the update, while kubelet keeps using
// the service principal until each node pool gets a node image upgrade
// (az aks nodepool upgrade --node-image-only), which needs a newer image
// than the pool runs and reimages its nodes. Nothing in the cluster's body
// says which credential kubelet uses, and whether
// servicePrincipalProfile.clientId reads msi before kubelet moves is not
// documented, so the guard counts a pool as moved only when its node image
// changed after the control plane moved.

// PoolImage is an agent pool's node image when the control plane moved.
type PoolImage struct {
	Name  string `json:"name"`
	Image string `json:"image"`
}

// KubeletMove records what image each pool ran when last seen before the
// control plane moved to its managed identity, and when the move was seen
// (zero before).
type KubeletMove struct {
	Since time.Time   `json:"since,omitzero"`
	Pools []PoolImage `json:"pools"`
}

// newKubeletMove records c's pools as they are, for a move seen at since
// (zero: not yet).
func newKubeletMove(c Cluster, since time.Time) *KubeletMove {
	k := &KubeletMove{Since: since}
	for _, p := range c.Pools {
		k.Pools = append(k.Pools, PoolImage{Name: p.Name, Image: p.NodeImageVersion})
	}
	return k
}

// onServicePrincipal returns the pools of c whose kubelet may still use
// the service principal: those that existed when the control plane moved
// and have the same node image. A pool created since, or deleted, is not
// one. A nil k knows of no pools.
func (k *KubeletMove) onServicePrincipal(c Cluster) []string {
	if k == nil {
		return nil
	}
	var out []string
	for _, was := range k.Pools {
		for _, p := range c.Pools {
			if strings.EqualFold(p.Name, was.Name) && p.NodeImageVersion == was.Image {
				out = append(out, p.Name)
			}
		}
	}
	slices.Sort(out)
	return out
}

// controlPlaneMigrated reports whether c's control plane has a managed
// identity, whatever servicePrincipalProfile says.
func controlPlaneMigrated(c Cluster) bool {
	return strings.EqualFold(c.IdentityType, "SystemAssigned") || strings.EqualFold(c.IdentityType, "UserAssigned")
}

// NodeImageUpgrade says whether jobs run the node image upgrades that move
// kubelet to its managed identity (AKSGUARD_NODE_IMAGE_UPGRADE).
type NodeImageUpgrade string

const (
	// NodeImagesSkip ends a job "kubelet-pending" with the commands to run.
	NodeImagesSkip NodeImageUpgrade = "skip"
	// NodeImagesEnforce upgrades each pool's node image in the window,
	// one pool at a time.
	NodeImagesEnforce NodeImageUpgrade = "enforce"
)

// Inventory finds clusters across the fleet.
type Inventory interface {
	// ClustersUsing returns the clusters, in every subscription the guard
	// may read, whose servicePrincipalProfile.clientId is appID.
	ClustersUsing(ctx context.Context, appID string) ([]ClusterID, error)
}

// deleteAdvice says whether the service principal appID may be deleted
// now that cluster id no longer uses it: only when no other cluster does.
func (s *Service) deleteAdvice(ctx context.Context, id ClusterID, appID string) string {
	users, err := s.inventory.ClustersUsing(ctx, appID)
	if err != nil {
		return "could not check whether other clusters use service principal " + appID + " (" + err.Error() + "): check before deleting it"
	}
	var others []string
	for _, c := range users {
		if !c.Same(id) {
			others = append(others, c.String())
		}
	}
	if len(others) > 0 {
		return "keep service principal " + appID + ": cluster(s) " + strings.Join(others, ", ") + " still use it"
	}
	return "no other cluster uses service principal " + appID + "; delete it once nothing outside AKS does (az ad sp delete --id " + appID + ")"
}

// nodeImageCommand is what a person runs to move one pool's kubelet.
func nodeImageCommand(id ClusterID, pool string) string {
	return "az aks nodepool upgrade --resource-group " + id.ResourceGroup + " --cluster-name " + id.Name + " --name " + pool + " --node-image-only"
}
