package graphclient

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/cacheck/ca-check/diagnose"
)

// AmbiguousTenantError is returned by ResolveTenant when a customer name
// matches more than one GDAP customer. It carries code EINVALID.
type AmbiguousTenantError struct {
	Query      string
	Candidates []diagnose.Tenant
}

func (e *AmbiguousTenantError) Error() string {
	names := make([]string, len(e.Candidates))
	for i, t := range e.Candidates {
		names[i] = fmt.Sprintf("%s (%s)", t.DisplayName, t.ID)
	}
	return fmt.Sprintf("%q matches %d customers: %s; give the tenant ID or a domain", e.Query, len(e.Candidates), strings.Join(names, ", "))
}

// Unwrap gives the diagnose code, so diagnose.ErrorCode works.
func (e *AmbiguousTenantError) Unwrap() error {
	return &diagnose.Error{Code: diagnose.EINVALID, Message: e.Error()}
}

// ResolveTenant resolves a tenant GUID (as is, no request), a verified
// domain (findTenantInformationByDomainName, in the partner tenant) or a
// customer name (the customers of the partner's GDAP relationships,
// case-insensitively: an exact name first, then a unique partial match).
func (c *Client) ResolveTenant(ctx context.Context, query string) (diagnose.Tenant, error) {
	q := strings.TrimSpace(query)
	switch {
	case q == "":
		return diagnose.Tenant{}, diagnose.Errorf(diagnose.EINVALID, "no tenant given: give a tenant ID, a verified domain, or a customer name")
	case IsGUID(q):
		return diagnose.Tenant{ID: strings.ToLower(q)}, nil
	case isDomain(q):
		return c.tenantByDomain(ctx, q)
	}
	rels, err := c.Customers(ctx)
	if err != nil {
		return diagnose.Tenant{}, err
	}
	var exact, partial []diagnose.Tenant
	add := func(list []diagnose.Tenant, r diagnose.Relationship) []diagnose.Tenant {
		if slices.ContainsFunc(list, func(t diagnose.Tenant) bool { return t.ID == r.CustomerTenantID }) {
			return list
		}
		return append(list, diagnose.Tenant{ID: r.CustomerTenantID, DisplayName: r.CustomerName})
	}
	for _, r := range rels {
		switch {
		case strings.EqualFold(r.CustomerName, q):
			exact = add(exact, r)
		case strings.Contains(strings.ToLower(r.CustomerName), strings.ToLower(q)):
			partial = add(partial, r)
		}
	}
	for _, list := range [][]diagnose.Tenant{exact, partial} {
		switch len(list) {
		case 0:
			continue
		case 1:
			return list[0], nil
		}
		return diagnose.Tenant{}, &AmbiguousTenantError{Query: q, Candidates: list}
	}
	return diagnose.Tenant{}, diagnose.Errorf(diagnose.ENOTFOUND, "no GDAP customer is named like %q; give the tenant ID or a verified domain", q)
}

// isDomain reports whether a tenant given by a user is a domain name rather
// than a customer name: dot-separated labels of letters, digits and
// hyphens. "contoso.com" is a domain; "Contoso Inc." and "Contoso S.A." are
// names (a name with a dot must not be sent to Entra as an authority).
func isDomain(s string) bool {
	labels := strings.Split(strings.TrimSpace(s), ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || strings.HasPrefix(l, "-") || strings.HasSuffix(l, "-") {
			return false
		}
		for _, r := range l {
			if r != '-' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
				return false
			}
		}
	}
	return true
}

func (c *Client) tenantByDomain(ctx context.Context, domain string) (diagnose.Tenant, error) {
	partner, err := c.conn(c.cfg.PartnerTenantID)
	if err != nil {
		return diagnose.Tenant{}, err
	}
	ri, err := partner.graph.TenantRelationships().FindTenantInformationByDomainNameWithDomainName(&domain).ToGetRequestInformation(ctx, nil)
	if err != nil {
		return diagnose.Tenant{}, err
	}
	res, err := c.send(ctx, partner, ri)
	if errNotFound(err) {
		return diagnose.Tenant{}, diagnose.Errorf(diagnose.ENOTFOUND, "no tenant has the verified domain %q", domain)
	}
	if err != nil {
		return diagnose.Tenant{}, c.fail(op{c.PartnerTenantID(), "tenant information for " + domain, permDomain}, err)
	}
	var info struct {
		TenantID          string `json:"tenantId"`
		DisplayName       string `json:"displayName"`
		DefaultDomainName string `json:"defaultDomainName"`
	}
	if err := json.Unmarshal(res.body, &info); err != nil || !IsGUID(info.TenantID) {
		return diagnose.Tenant{}, diagnose.Errorf(diagnose.EUNAVAILABLE, "Microsoft Graph gave no tenant ID for %q", domain)
	}
	return diagnose.Tenant{ID: strings.ToLower(info.TenantID), DisplayName: info.DisplayName, DefaultDomain: info.DefaultDomainName}, nil
}

// Customers lists the partner's GDAP relationships, every status.
func (c *Client) Customers(ctx context.Context) ([]diagnose.Relationship, error) {
	partner, err := c.conn(c.cfg.PartnerTenantID)
	if err != nil {
		return nil, err
	}
	rels, err := c.relationships(ctx, partner, "")
	if err != nil {
		return nil, c.fail(op{c.PartnerTenantID(), "the partner's GDAP relationships", permGDAP}, err)
	}
	// A diagnosis of any of them can now read its access assignments in
	// its first wave.
	seen := map[string]bool{}
	for _, r := range rels {
		if !seen[r.CustomerTenantID] {
			seen[r.CustomerTenantID] = true
			c.rememberRelationships(rels, r.CustomerTenantID)
		}
	}
	return rels, nil
}
