package graphclient

import (
	"context"
	"encoding/json"
	"strings"
	"sync"

	"github.com/microsoftgraph/msgraph-sdk-go/organization"

	"github.com/cacheck/ca-check/diagnose"
)

// permOrganization reads the partner organization's name.
const permOrganization = "Organization.Read.All"

// orgName is the partner organization's display name, read once: an
// approval request names the partner by it (diagnose.DescribeExclusionFor).
type orgName struct {
	mu   sync.Mutex // held while reading, so concurrent first callers read once
	name string
}

// PartnerName returns the display name of the partner's own organization
// (GET /organization in the partner tenant, Organization.Read.All there),
// read on the first call and kept for the life of the Client; a failure is
// not kept, so a later call reads again.
func (c *Client) PartnerName(ctx context.Context) (string, error) {
	c.partnerOrg.mu.Lock()
	defer c.partnerOrg.mu.Unlock()
	if c.partnerOrg.name != "" {
		return c.partnerOrg.name, nil
	}
	partner, err := c.conn(c.cfg.PartnerTenantID)
	if err != nil {
		return "", err
	}
	ri, err := partner.graph.Organization().ToGetRequestInformation(ctx, &organization.OrganizationRequestBuilderGetRequestConfiguration{
		QueryParameters: &organization.OrganizationRequestBuilderGetQueryParameters{Select: []string{"id", "displayName"}},
	})
	if err != nil {
		return "", err
	}
	res, err := c.send(ctx, partner, ri)
	if err != nil {
		return "", c.fail(op{c.PartnerTenantID(), "the partner organization's name", permOrganization}, err)
	}
	var list struct {
		Value []struct {
			ID          string `json:"id"`
			DisplayName string `json:"displayName"`
		} `json:"value"`
	}
	if err := json.Unmarshal(res.body, &list); err != nil {
		return "", diagnose.Errorf(diagnose.EUNAVAILABLE, "Microsoft Graph answered the partner organization's read with something that is not a list of organizations")
	}
	for _, o := range list.Value {
		// The tenant has one organization, whose ID is the tenant's.
		if strings.EqualFold(o.ID, c.cfg.PartnerTenantID) && strings.TrimSpace(o.DisplayName) != "" {
			c.partnerOrg.name = strings.TrimSpace(o.DisplayName)
			return c.partnerOrg.name, nil
		}
	}
	return "", diagnose.Errorf(diagnose.EUNAVAILABLE, "Microsoft Graph gave no display name for the partner organization %s", c.PartnerTenantID())
}
