package guard

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Registry roles: whatever their scope, they are for nodes pulling images.
const (
	roleAcrPush = "8311e382-0749-4cb8-b61a-304f252e45ec"
	// actPull is the action a custom role needs to pull images.
	actPull = "Microsoft.ContainerRegistry/registries/pull/read"
)

// roleDefinitions reads role definitions once per plan.
type roleDefinitions struct {
	roles Roles
	byID  map[string]RoleDefinition
}

func (d *roleDefinitions) get(ctx context.Context, id string) (RoleDefinition, error) {
	k := roleGUID(id)
	if def, ok := d.byID[k]; ok {
		return def, nil
	}
	def, err := d.roles.Definition(ctx, id)
	if err != nil {
		return RoleDefinition{}, fmt.Errorf("read role definition %s: %w", id, err)
	}
	if d.byID == nil {
		d.byID = map[string]RoleDefinition{}
	}
	d.byID[k] = def
	return def, nil
}

// pullsImages reports whether a is a registry role: AcrPull, AcrPush, or a
// custom role that names the pull action itself (not through a wildcard,
// which Owner and Contributor match too).
func (d *roleDefinitions) pullsImages(ctx context.Context, a RoleAssignment) (bool, error) {
	role := roleGUID(a.RoleDefinitionID)
	switch {
	case role == AcrPullRoleID || role == roleAcrPush:
		return true, nil
	case RoleName(role) != "":
		return false, nil // another built-in role
	}
	def, err := d.get(ctx, a.RoleDefinitionID)
	if err != nil {
		return false, err
	}
	for _, s := range def.Permissions {
		if slices.ContainsFunc(s.Actions, func(x string) bool { return strings.EqualFold(x, actPull) }) {
			return true, nil
		}
	}
	return false, nil
}

// allowsPull reports whether a's role allows pulling images through a
// wildcard; a definition that cannot be read counts as not.
func (d *roleDefinitions) allowsPull(ctx context.Context, a RoleAssignment) bool {
	def, err := d.get(ctx, a.RoleDefinitionID)
	return err == nil && allows(def.Permissions, actPull)
}

// anyAllows reports whether one of as applies at scope and its role
// allows action.
func (d *roleDefinitions) anyAllows(ctx context.Context, as []RoleAssignment, scope, action string) (bool, error) {
	for _, a := range as {
		if !scopeCovers(a.Scope, scope) {
			continue
		}
		def, err := d.get(ctx, a.RoleDefinitionID)
		if err != nil {
			return false, err
		}
		if allows(def.Permissions, action) {
			return true, nil
		}
	}
	return false, nil
}
