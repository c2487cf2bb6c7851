package diagnose

import "time"

// Tenant identifies a customer tenant.
type Tenant struct {
	ID            string `json:"id"`
	DisplayName   string `json:"displayName,omitempty"`
	DefaultDomain string `json:"defaultDomain,omitempty"`
}

// Relationship is a GDAP (delegated admin) relationship between the partner
// and a customer, as the partner tenant reports it.
type Relationship struct {
	ID               string    `json:"id"`
	DisplayName      string    `json:"displayName,omitempty"`
	CustomerTenantID string    `json:"customerTenantId"`
	CustomerName     string    `json:"customerName,omitempty"`
	Status           string    `json:"status"` // active, expired, terminated, …
	EndDateTime      time.Time `json:"endDateTime,omitzero"`
	// Roles are the role template IDs of the relationship's access details.
	Roles []string `json:"roles,omitempty"`
}

// Active reports whether the relationship grants access now.
func (r *Relationship) Active(now time.Time) bool {
	return r != nil && r.Status == "active" && (r.EndDateTime.IsZero() || now.Before(r.EndDateTime))
}
