package graphclient

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/microsoftgraph/msgraph-sdk-go/rolemanagement"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/cacheck/ca-check/diagnose"
)

// Roles whose holders may approve a Conditional Access change.
var approverRoles = []string{
	"62e90394-69f5-4237-9190-012177145e10", // Global Administrator
	"194ae4cb-b126-40b2-bd5b-6091b380977d", // Security Administrator
	"b1be1c3e-b65d-4f19-8427-f6fa0d97feb9", // Conditional Access Administrator
}

// IsApprover reports whether emailOrUPN is a user of the customer tenant
// with an active, tenant-wide Global Administrator, Security Administrator
// or Conditional Access Administrator role assignment. It reads users
// (User.Read.All) and directory role assignments
// (RoleManagement.Read.Directory). Roles held through a role-assignable
// group, or eligible in PIM but not activated, do not count.
func (c *Client) IsApprover(ctx context.Context, tenantID, emailOrUPN string) (bool, error) {
	who := strings.TrimSpace(emailOrUPN)
	if who == "" || !strings.Contains(who, "@") {
		return false, diagnose.Errorf(diagnose.EINVALID, "%q is not an email address or user principal name", emailOrUPN)
	}
	cn, err := c.conn(tenantID)
	if err != nil {
		return false, err
	}
	lit := odataString(who)
	filter := fmt.Sprintf("userPrincipalName eq '%s' or mail eq '%s'", lit, lit)
	ri, err := cn.graph.Users().ToGetRequestInformation(ctx, &users.UsersRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Filter: &filter, Select: []string{"id", "userPrincipalName", "mail"}},
	})
	if err != nil {
		return false, err
	}
	items, err := c.list(ctx, cn, ri)
	if err != nil {
		return false, c.fail(op{tenantID, "the tenant's users", permUsers}, err)
	}
	for _, raw := range items {
		var u struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(raw, &u) != nil || u.ID == "" {
			continue
		}
		ok, err := c.holdsApproverRole(ctx, cn, u.ID)
		if ok || err != nil {
			return ok, err
		}
	}
	return false, nil
}

func (c *Client) holdsApproverRole(ctx context.Context, cn *conn, userID string) (bool, error) {
	filter := "principalId eq '" + odataString(userID) + "'"
	ri, err := cn.graph.RoleManagement().Directory().RoleAssignments().ToGetRequestInformation(ctx, &rolemanagement.DirectoryRoleAssignmentsRequestBuilderGetRequestConfiguration{
		QueryParameters: &rolemanagement.DirectoryRoleAssignmentsRequestBuilderGetQueryParameters{Filter: &filter},
	})
	if err != nil {
		return false, err
	}
	items, err := c.list(ctx, cn, ri)
	if err != nil {
		return false, c.fail(op{cn.tenant, "the directory role assignments", permRoles}, err)
	}
	for _, raw := range items {
		var a struct {
			RoleDefinitionID string `json:"roleDefinitionId"`
			DirectoryScopeID string `json:"directoryScopeId"`
		}
		if json.Unmarshal(raw, &a) != nil {
			continue
		}
		// Built-in roles' definition IDs are their template IDs; an
		// administrative-unit scope does not reach Conditional Access.
		if a.DirectoryScopeID == "/" && slices.Contains(approverRoles, strings.ToLower(a.RoleDefinitionID)) {
			return true, nil
		}
	}
	return false, nil
}
