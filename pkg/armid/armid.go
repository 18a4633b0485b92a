// Package armid turns ARM resource ID strings into guard.ClusterIDs, and
// checks the other IDs the guard is given (GUIDs, user-assigned identities).
// It is the one place that parses them: strictly, with azcore's
// arm.ParseResourceID, plus the naming rules ARM enforces for subscriptions,
// resource groups and AKS clusters.
package armid

import (
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"

	"github.com/aksguard/aksguard/pkg/guard"
)

const (
	aksNamespace = "Microsoft.ContainerService"
	clusterType  = "managedClusters"
)

// ErrNotCluster is wrapped by errors for well-formed resource IDs that do
// not name, or lie under, an AKS managed cluster.
var ErrNotCluster = errors.New("not an AKS managed cluster")

// ParseCluster parses the resource ID of a managed cluster itself. It fails
// for any other resource, including a cluster's child resources.
func ParseCluster(s string) (guard.ClusterID, error) {
	id, child, err := ClusterOf(s)
	if err != nil {
		return guard.ClusterID{}, err
	}
	if child != "" {
		return guard.ClusterID{}, fmt.Errorf("resource ID %q is a %s under a managed cluster, not the cluster", s, child)
	}
	return id, nil
}

// ClusterOf parses a resource ID that is a managed cluster or lies under one
// (an agent pool, or an extension resource such as
// /providers/Microsoft.Resources/tags/default) and returns the cluster and,
// for a resource under it, that resource's type.
func ClusterOf(s string) (id guard.ClusterID, child string, err error) {
	rid, err := arm.ParseResourceID(strings.TrimSpace(s))
	if err != nil {
		return guard.ClusterID{}, "", fmt.Errorf("resource ID %q: %w", s, err)
	}
	for r := rid; r != nil; r = r.Parent {
		if !isCluster(r) {
			child = r.ResourceType.String()
			continue
		}
		if !isResourceGroup(r.Parent) {
			return guard.ClusterID{}, "", fmt.Errorf("resource ID %q: a managed cluster must sit in a resource group", s)
		}
		id := guard.ClusterID{Subscription: r.SubscriptionID, ResourceGroup: r.ResourceGroupName, Name: r.Name}
		if err := validate(id); err != nil {
			return guard.ClusterID{}, "", fmt.Errorf("resource ID %q: %w", s, err)
		}
		if r == rid {
			child = ""
		}
		return id, child, nil
	}
	return guard.ClusterID{}, "", fmt.Errorf("resource ID %q (type %s): %w", s, rid.ResourceType, ErrNotCluster)
}

func isCluster(r *arm.ResourceID) bool {
	return strings.EqualFold(r.ResourceType.Namespace, aksNamespace) && strings.EqualFold(r.ResourceType.Type, clusterType)
}

func isResourceGroup(r *arm.ResourceID) bool {
	return r != nil && strings.EqualFold(r.ResourceType.String(), "Microsoft.Resources/resourceGroups") &&
		r.Parent != nil && strings.EqualFold(r.Parent.ResourceType.String(), "Microsoft.Resources/subscriptions")
}

// validate applies ARM's naming rules, so that a placeholder such as
// "{subscription-id}" or a truncated ID is rejected here rather than by ARM.
func validate(id guard.ClusterID) error {
	if !IsGUID(id.Subscription) {
		return fmt.Errorf("subscription %q is not a GUID", id.Subscription)
	}
	if !validResourceGroup(id.ResourceGroup) {
		return fmt.Errorf("resource group name %q breaks ARM's naming rules", id.ResourceGroup)
	}
	if !validClusterName(id.Name) {
		return fmt.Errorf("cluster name %q breaks AKS naming rules (1-63 letters, digits, '-' or '_', starting and ending with a letter or digit)", id.Name)
	}
	return nil
}

// IsGUID reports whether s is a GUID in its 8-4-4-4-12 hexadecimal form, as
// subscription, object, client and role assignment ids are.
func IsGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// validResourceGroup: 1-90 letters, digits, '_', '(', ')', '-' or '.', not
// ending in '.'.
func validResourceGroup(s string) bool {
	if s == "" || len([]rune(s)) > 90 || strings.HasSuffix(s, ".") {
		return false
	}
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune("_()-.", r) {
			return false
		}
	}
	return true
}

func validClusterName(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	alnum := func(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' }
	if !alnum(s[0]) || !alnum(s[len(s)-1]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !alnum(c) && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// UserAssignedIdentityType is the resource type of a user-assigned managed
// identity.
const UserAssignedIdentityType = "Microsoft.ManagedIdentity/userAssignedIdentities"

// CheckUserAssignedIdentity checks that id is a user-assigned managed
// identity's resource ID.
func CheckUserAssignedIdentity(id string) error {
	r, err := arm.ParseResourceID(id)
	if err != nil {
		return fmt.Errorf("user-assigned identity %q: %w", id, err)
	}
	if !strings.EqualFold(r.ResourceType.String(), UserAssignedIdentityType) {
		return fmt.Errorf("user-assigned identity %q: a %s, not a %s", id, r.ResourceType, UserAssignedIdentityType)
	}
	if strings.ContainsAny(id, "\x00\r\n") {
		return fmt.Errorf("user-assigned identity %q: control characters in the ID", id)
	}
	return nil
}
