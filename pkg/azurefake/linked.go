package azurefake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/fake/server"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v8"
)

// Linked authorization: ARM checks the caller of a full-body PUT against
// every resource the body references, changed or not (azure-cli issue
// 22232; the actions are those "Azure Kubernetes Service (AKS) service
// permissions" lists for the identity creating or operating a cluster).
// The fleet does so with the RBAC's view of the guard's permissions when
// the two belong to one simulated Azure.

// linkedNeed is one action the caller needs on one referenced resource.
type linkedNeed struct{ scope, action string }

// referenced returns what a PUT of mc needs on the resources it names.
func referenced(mc armcontainerservice.ManagedCluster) []linkedNeed {
	var out []linkedNeed
	add := func(scope, action string) {
		if scope != "" {
			out = append(out, linkedNeed{scope, action})
		}
	}
	if mi := mc.Identity; mi != nil {
		for id := range mi.UserAssignedIdentities {
			add(id, "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action")
		}
	}
	p := mc.Properties
	if p == nil {
		return out
	}
	for _, pool := range p.AgentPoolProfiles {
		if pool != nil {
			add(deref(pool.VnetSubnetID), "Microsoft.Network/virtualNetworks/subnets/join/action")
			add(deref(pool.PodSubnetID), "Microsoft.Network/virtualNetworks/subnets/join/action")
		}
	}
	add(deref(p.DiskEncryptionSetID), "Microsoft.Compute/diskEncryptionSets/read")
	if np := p.NetworkProfile; np != nil && np.LoadBalancerProfile != nil {
		if ips := np.LoadBalancerProfile.OutboundIPs; ips != nil {
			for _, r := range ips.PublicIPs {
				if r != nil {
					add(deref(r.ID), "Microsoft.Network/publicIPAddresses/join/action")
				}
			}
		}
		if prefixes := np.LoadBalancerProfile.OutboundIPPrefixes; prefixes != nil {
			for _, r := range prefixes.PublicIPPrefixes {
				if r != nil {
					add(deref(r.ID), "Microsoft.Network/publicIPPrefixes/join/action")
				}
			}
		}
	}
	for name, a := range p.AddonProfiles {
		if a != nil && a.Enabled != nil && *a.Enabled && strings.EqualFold(name, "omsagent") {
			for k, v := range a.Config {
				if strings.EqualFold(k, "logAnalyticsWorkspaceResourceID") {
					add(deref(v), "Microsoft.OperationalInsights/workspaces/sharedkeys/read")
				}
			}
		}
	}
	if k := kubelet(p.IdentityProfile); k != nil && !strings.Contains(strings.ToLower(deref(k.ResourceID)), "/resourcegroups/"+strings.ToLower(deref(p.NodeResourceGroup))+"/") {
		add(deref(k.ResourceID), "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action")
	}
	return out
}

// linkedRefusal checks the PUT in req against the guard's permissions and
// returns ARM's 403 when one is missing, or nil; req's body is left to be
// read again.
func (f *Fleet) linkedRefusal(req *http.Request) (*http.Response, error) {
	if f.linked == nil || req.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(req.Body)
	req.Body.Close()
	req.Body = io.NopCloser(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	var mc armcontainerservice.ManagedCluster
	if json.Unmarshal(b, &mc) != nil {
		return nil, nil // the fake answers a body it cannot read
	}
	for _, n := range referenced(mc) {
		if !f.linked(n.scope, n.action) {
			msg := fmt.Sprintf("The client 'aksguard' has permission to perform action 'Microsoft.ContainerService/managedClusters/write' on scope '%s'; however, it does not have permission to perform action '%s' on the linked scope(s) '%s' or the linked scope(s) are invalid.",
				req.URL.Path, n.action, n.scope)
			body := map[string]any{"error": map[string]any{"code": "LinkedAuthorizationFailed", "message": msg}}
			resp, err := server.MarshalResponseAsJSON(server.ResponseContent{HTTPStatus: http.StatusForbidden}, body, req)
			return resp, err
		}
	}
	return nil, nil
}
