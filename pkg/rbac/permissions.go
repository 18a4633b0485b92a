package rbac

import (
	"context"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"

	"github.com/aksguard/aksguard/pkg/azerr"
	"github.com/aksguard/aksguard/pkg/guard"
)

// Definition reads a role definition with RoleDefinitionsClient.GetByID.
// id is a full role definition ID, or a built-in role's GUID. Errors are
// classified *guard.Errors.
func (c *Client) Definition(ctx context.Context, id string) (guard.RoleDefinition, error) {
	op := "read role definition " + id
	if !strings.Contains(id, "/") {
		id = "/providers/Microsoft.Authorization/roleDefinitions/" + id
	}
	s, err := c.apis.Get(subscriptionOf(id))
	if err != nil {
		return guard.RoleDefinition{}, guard.Errorf(guard.KindInvalid, "%s: %w", op, err)
	}
	resp, err := s.definitions.GetByID(ctx, id, nil)
	if err != nil {
		return guard.RoleDefinition{}, azerr.Classify(op, err)
	}
	def := guard.RoleDefinition{ID: deref(resp.ID)}
	if p := resp.Properties; p != nil {
		def.Name = deref(p.RoleName)
		def.Permissions = permissionSets(p.Permissions)
	}
	return def, nil
}

// Mine lists what the guard's identity may do on scope, a resource or a
// resource group, with PermissionsClient.NewListForResourcePager or
// NewListForResourceGroupPager. A subscription or anything above, or an
// ID it cannot parse, is KindInvalid: the API has no such question.
func (c *Client) Mine(ctx context.Context, scope string) ([]guard.PermissionSet, error) {
	op := "list the guard's permissions on " + scope
	rid, err := arm.ParseResourceID(scope)
	if err != nil || rid.ResourceGroupName == "" {
		return nil, guard.Errorf(guard.KindInvalid, "%s: not a resource or a resource group", op)
	}
	s, err := c.apis.Get(rid.SubscriptionID)
	if err != nil {
		return nil, guard.Errorf(guard.KindInvalid, "%s: %w", op, err)
	}
	var out []guard.PermissionSet
	if strings.EqualFold(rid.ResourceType.String(), arm.ResourceGroupResourceType.String()) {
		pager := s.permissions.NewListForResourceGroupPager(rid.ResourceGroupName, nil)
		for pager.More() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				return nil, azerr.Classify(op, err)
			}
			out = append(out, permissionSets(page.Value)...)
		}
		return out, nil
	}
	parent, typ, ok := resourcePath(rid)
	if !ok {
		return nil, guard.Errorf(guard.KindInvalid, "%s: an extension resource", op)
	}
	pager := s.permissions.NewListForResourcePager(rid.ResourceGroupName, rid.ResourceType.Namespace, parent, typ, rid.Name, nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, azerr.Classify(op, err)
		}
		out = append(out, permissionSets(page.Value)...)
	}
	return out, nil
}

// resourcePath splits a resource below its provider into the parent path
// and the last type, as the permissions API takes them: a subnet is
// parent "virtualNetworks/<vnet>", type "subnets".
func resourcePath(rid *arm.ResourceID) (parent, typ string, ok bool) {
	var chain []*arm.ResourceID
	for r := rid; r != nil && r.ResourceType.Namespace == rid.ResourceType.Namespace && len(r.ResourceType.Types) > 0; r = r.Parent {
		chain = append(chain, r)
	}
	if len(chain) == 0 || len(chain) != len(rid.ResourceType.Types) {
		return "", "", false
	}
	var parts []string
	for i := len(chain) - 1; i > 0; i-- {
		parts = append(parts, chain[i].ResourceType.Types[len(chain[i].ResourceType.Types)-1], chain[i].Name)
	}
	return strings.Join(parts, "/"), rid.ResourceType.Types[len(rid.ResourceType.Types)-1], true
}

func permissionSets(ps []*armauthorization.Permission) []guard.PermissionSet {
	var out []guard.PermissionSet
	for _, p := range ps {
		if p == nil {
			continue
		}
		out = append(out, guard.PermissionSet{Actions: derefs(p.Actions), NotActions: derefs(p.NotActions)})
	}
	return out
}

func derefs(ss []*string) []string {
	var out []string
	for _, s := range ss {
		if s != nil {
			out = append(out, *s)
		}
	}
	return out
}
