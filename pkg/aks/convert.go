package aks

import (
	"fmt"
	"slices"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v8"

	"github.com/aksguard/aksguard/pkg/armid"
	"github.com/aksguard/aksguard/pkg/guard"
)

// kubeletIdentityKey is the identityProfile entry AKS uses for the kubelet's
// identity.
const kubeletIdentityKey = "kubeletidentity"

// toCluster takes what the guard needs from a cluster as ARM returns it. Any
// field may be missing. The ID is zero when the body has none (the caller
// knows which cluster it asked for); an ID that is not a managed cluster's
// is an error. UserAssignedIdentities are sorted.
func toCluster(mc armcontainerservice.ManagedCluster) (guard.Cluster, error) {
	c := guard.Cluster{
		Type:     deref(mc.Type),
		Location: deref(mc.Location),
		Tags:     tags(mc.Tags),
		ETag:     deref(mc.ETag),
	}
	if s := deref(mc.ID); s != "" {
		id, err := armid.ParseCluster(s)
		if err != nil {
			return guard.Cluster{}, fmt.Errorf("cluster body: %w", err)
		}
		c.ID = id
	}
	if mi := mc.Identity; mi != nil {
		c.IdentityType = deref(mi.Type)
		c.PrincipalID = deref(mi.PrincipalID)
		for k := range mi.UserAssignedIdentities {
			c.UserAssignedIdentities = append(c.UserAssignedIdentities, k)
		}
		slices.Sort(c.UserAssignedIdentities)
	}
	p := mc.Properties
	if p == nil {
		return c, nil
	}
	c.ProvisioningState = deref(p.ProvisioningState)
	if sp := p.ServicePrincipalProfile; sp != nil {
		c.HasServicePrincipalProfile = true
		c.ServicePrincipalClientID = deref(sp.ClientID)
	}
	if k := kubelet(p.IdentityProfile); k != nil {
		c.Kubelet = &guard.Identity{
			ResourceID: deref(k.ResourceID),
			ClientID:   deref(k.ClientID),
			ObjectID:   deref(k.ObjectID),
		}
	}
	if ap := p.APIServerAccessProfile; ap != nil {
		c.PrivateDNSZone = deref(ap.PrivateDNSZone)
	}
	c.NodeResourceGroup = deref(p.NodeResourceGroup)
	c.DiskEncryptionSetID = deref(p.DiskEncryptionSetID)
	for _, ap := range p.AgentPoolProfiles {
		if ap != nil {
			c.Pools = append(c.Pools, guard.Pool{Name: deref(ap.Name), NodeImageVersion: deref(ap.NodeImageVersion),
				VnetSubnetID: deref(ap.VnetSubnetID), PodSubnetID: deref(ap.PodSubnetID), ProvisioningState: deref(ap.ProvisioningState)})
		}
	}
	for key, ap := range p.AddonProfiles {
		if ap == nil {
			continue
		}
		if c.Addons == nil {
			c.Addons = map[string]guard.Addon{}
		}
		a := guard.Addon{Enabled: ap.Enabled != nil && *ap.Enabled}
		for k, v := range ap.Config {
			if a.Config == nil {
				a.Config = map[string]string{}
			}
			a.Config[k] = deref(v)
		}
		if id := ap.Identity; id != nil {
			a.Identity = &guard.Identity{ResourceID: deref(id.ResourceID), ClientID: deref(id.ClientID), ObjectID: deref(id.ObjectID)}
		}
		c.Addons[key] = a
	}
	if np := p.NetworkProfile; np != nil {
		if np.NetworkPlugin != nil {
			c.NetworkPlugin = string(*np.NetworkPlugin)
		}
		if lb := np.LoadBalancerProfile; lb != nil {
			if lb.OutboundIPs != nil {
				c.OutboundIPs = refs(lb.OutboundIPs.PublicIPs)
			}
			if lb.OutboundIPPrefixes != nil {
				c.OutboundIPPrefixes = refs(lb.OutboundIPPrefixes.PublicIPPrefixes)
			}
		}
	}
	return c, nil
}

// refs are the ids of resource references, in order.
func refs(rs []*armcontainerservice.ResourceReference) []string {
	var out []string
	for _, r := range rs {
		if r != nil && deref(r.ID) != "" {
			out = append(out, *r.ID)
		}
	}
	return out
}

// kubelet returns identityProfile's kubelet identity, matching the key
// case-insensitively, or nil.
func kubelet(profile map[string]*armcontainerservice.UserAssignedIdentity) *armcontainerservice.UserAssignedIdentity {
	if k, ok := profile[kubeletIdentityKey]; ok {
		return k
	}
	for name, k := range profile {
		if strings.EqualFold(name, kubeletIdentityKey) {
			return k
		}
	}
	return nil
}

// tags copies ARM's tags; a tag with a null value reads as "". No tags give
// a nil map.
func tags(in map[string]*string) map[string]string {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[k] = deref(v)
	}
	return out
}

func deref[T ~string](p *T) string {
	if p == nil {
		return ""
	}
	return string(*p)
}
