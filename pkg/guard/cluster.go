package guard

import (
	"strings"
)

// ClusterID names one AKS managed cluster. Adapters build it from a strictly
// parsed ARM resource ID; the domain never parses ID strings itself.
type ClusterID struct {
	Subscription  string
	ResourceGroup string
	Name          string
}

// String returns the canonical ARM resource ID of the cluster.
func (id ClusterID) String() string {
	if id.IsZero() {
		return ""
	}
	return "/subscriptions/" + id.Subscription + "/resourceGroups/" + id.ResourceGroup +
		"/providers/Microsoft.ContainerService/managedClusters/" + id.Name
}

// IsZero reports whether id names no cluster.
func (id ClusterID) IsZero() bool { return id == ClusterID{} }

// Key is the storage key of the cluster: the lower-cased resource ID, encoded
// so that it is a valid Table Storage PartitionKey or RowKey. ARM compares IDs
// case-insensitively and mixes "resourceGroups" with "resourcegroups", so two
// IDs name the same cluster exactly when their keys are equal.
func (id ClusterID) Key() string { return EncodeKey(strings.ToLower(id.String())) }

// SubscriptionKey is the storage key of the cluster's subscription.
func (id ClusterID) SubscriptionKey() string { return EncodeKey(strings.ToLower(id.Subscription)) }

// Same reports whether id and other name the same cluster.
func (id ClusterID) Same(other ClusterID) bool {
	return strings.EqualFold(id.Subscription, other.Subscription) &&
		strings.EqualFold(id.ResourceGroup, other.ResourceGroup) &&
		strings.EqualFold(id.Name, other.Name)
}

// Cluster is what the guard needs to know about a managed cluster, taken from
// the resource as ARM returns it.
type Cluster struct {
	ID ClusterID
	// Type is the ARM resource type when the input named one; empty otherwise.
	Type     string
	Location string
	// IdentityType is identity.type as ARM spells it: "", "None",
	// "SystemAssigned" or "UserAssigned".
	IdentityType string
	// PrincipalID is identity.principalId, set for a system-assigned identity.
	PrincipalID string
	// UserAssignedIdentities are the resource IDs in identity.userAssignedIdentities.
	UserAssignedIdentities []string
	// HasServicePrincipalProfile reports whether servicePrincipalProfile was present.
	HasServicePrincipalProfile bool
	// ServicePrincipalClientID is servicePrincipalProfile.clientId: an
	// application id, or "msi" for a cluster that uses a managed identity.
	ServicePrincipalClientID string
	// Kubelet is identityProfile.kubeletidentity, nil when absent.
	Kubelet *Identity
	// PrivateDNSZone is apiServerAccessProfile.privateDNSZone: "system",
	// "none", a custom zone's resource ID, or empty.
	PrivateDNSZone    string
	Tags              map[string]string
	ETag              string
	ProvisioningState string
	// NodeResourceGroup is properties.nodeResourceGroup, where AKS keeps
	// the resources it manages.
	NodeResourceGroup string
	// NetworkPlugin is networkProfile.networkPlugin: "kubenet", "azure",
	// "none" or empty.
	NetworkPlugin string
	// Pools are properties.agentPoolProfiles.
	Pools []Pool
	// Addons are properties.addonProfiles by their key ("omsagent",
	// "ingressApplicationGateway", "aciConnectorLinux", …).
	Addons map[string]Addon
	// OutboundIPs and OutboundIPPrefixes are the public IPs and prefixes
	// the load balancer's outbound rules use (networkProfile).
	OutboundIPs        []string
	OutboundIPPrefixes []string
	// DiskEncryptionSetID is properties.diskEncryptionSetID.
	DiskEncryptionSetID string
}

// Pool is one agent pool as the cluster body shows it.
type Pool struct {
	Name string
	// NodeImageVersion changes when the pool's nodes get a new image.
	NodeImageVersion string
	VnetSubnetID     string
	PodSubnetID      string
	// ProvisioningState is the pool's, as ARM reports it: Succeeded when
	// its last operation did.
	ProvisioningState string
}

// Addon is one add-on profile.
type Addon struct {
	Enabled bool
	// Config keys as AKS spells them (e.g. logAnalyticsWorkspaceResourceID).
	Config map[string]string
	// Identity is the add-on's own managed identity, which AKS creates once
	// the cluster uses a managed identity; nil until then.
	Identity *Identity
}

// Addon returns the add-on profile named key, matching case-insensitively
// as AKS does.
func (c Cluster) Addon(key string) (Addon, bool) {
	if a, ok := c.Addons[key]; ok {
		return a, true
	}
	for k, a := range c.Addons {
		if strings.EqualFold(k, key) {
			return a, true
		}
	}
	return Addon{}, false
}

// Setting returns the add-on's setting named key, matching
// case-insensitively.
func (a Addon) Setting(key string) string {
	if v, ok := a.Config[key]; ok {
		return v
	}
	for k, v := range a.Config {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

// Identity is a managed identity as AKS reports it.
type Identity struct {
	ResourceID string
	ClientID   string
	ObjectID   string
}

// HasCustomPrivateDNSZone reports whether the cluster uses a private DNS zone
// it brought itself, which a system-assigned control-plane identity cannot
// manage.
func (c Cluster) HasCustomPrivateDNSZone() bool {
	z := strings.ToLower(c.PrivateDNSZone)
	return z != "" && z != "system" && z != "none"
}

// Tag returns the value of the tag named name, comparing names
// case-insensitively as ARM does.
func (c Cluster) Tag(name string) (string, bool) {
	if v, ok := c.Tags[name]; ok {
		return v, true
	}
	for k, v := range c.Tags {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}
