package guard

import (
	"strings"
)

// What az aks update grants add-on identities after the update, from the
// Azure CLI's acs module (addonconfiguration.py: add_monitoring_role_assignment,
// add_ingress_appgw_addon_role_assignment, add_virtual_node_role_assignment,
// run by postprocessing_after_mc_created whenever the add-on is enabled).
// Microsoft's docs say that without the CLI a person must grant them; the
// guard does, to each add-on's own identity.
const (
	roleContributor                = "b24988ac-6180-42a0-ab88-20f7382dd24c"
	roleNetworkContributor         = "4d97b98b-1d4f-4787-a291-c67834d212e7"
	roleMonitoringMetricsPublisher = "3913510d-42f4-4e42-8a64-420c390055eb"
)

// Add-on keys in addonProfiles, as AKS spells them.
const (
	addonMonitoring  = "omsagent"
	addonAppGateway  = "ingressApplicationGateway"
	addonVirtualNode = "aciConnectorLinux"
)

// addonGrants returns the role assignments each enabled add-on of c gets,
// by add-on key, without principals: those exist only after the update.
func addonGrants(c Cluster) map[string][]RoleAssignment {
	out := map[string][]RoleAssignment{}
	add := func(key, role, scope string) {
		out[key] = append(out[key], RoleAssignment{Scope: scope, RoleDefinitionID: roleDefinitionPath(c.ID.Subscription, role), RoleName: RoleName(role)})
	}
	if a, ok := c.Addon(addonMonitoring); ok && a.Enabled {
		// Metrics from the monitoring agent, on the cluster itself.
		add(addonMonitoring, roleMonitoringMetricsPublisher, c.ID.String())
	}
	if a, ok := c.Addon(addonAppGateway); ok && a.Enabled {
		if gw := a.Setting("applicationGatewayId"); gw != "" {
			if rg := resourceGroupOf(gw); rg != "" {
				add(addonAppGateway, roleContributor, rg)
			}
		}
		switch subnet, cidr := a.Setting("subnetId"), a.Setting("subnetCIDR"); {
		case subnet != "":
			add(addonAppGateway, roleNetworkContributor, subnet)
		case cidr != "" && firstSubnet(c) != "":
			add(addonAppGateway, roleContributor, vnetOf(firstSubnet(c)))
		}
	}
	if a, ok := c.Addon(addonVirtualNode); ok && a.Enabled && firstSubnet(c) != "" {
		add(addonVirtualNode, roleContributor, vnetOf(firstSubnet(c)))
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// firstSubnet is the subnet of the cluster's first pool, which the CLI
// takes for the cluster's network; "" for a network AKS manages.
func firstSubnet(c Cluster) string {
	if len(c.Pools) == 0 {
		return ""
	}
	return c.Pools[0].VnetSubnetID
}

// vnetOf is the virtual network of a subnet's resource ID.
func vnetOf(subnet string) string {
	if i := strings.LastIndex(strings.ToLower(subnet), "/subnets/"); i >= 0 {
		return subnet[:i]
	}
	return subnet
}

// resourceGroupOf is the resource group ID of a resource ID, or "".
func resourceGroupOf(id string) string {
	parts := strings.Split(strings.Trim(id, "/"), "/")
	if len(parts) < 4 || !strings.EqualFold(parts[0], "subscriptions") || !strings.EqualFold(parts[2], "resourceGroups") {
		return ""
	}
	return "/subscriptions/" + parts[1] + "/resourceGroups/" + parts[3]
}

// roleDefinitionPath is a role's definition ID in subscription, as ARM
// returns it for an assignment there.
func roleDefinitionPath(subscription, role string) string {
	return "/subscriptions/" + subscription + "/providers/Microsoft.Authorization/roleDefinitions/" + role
}
