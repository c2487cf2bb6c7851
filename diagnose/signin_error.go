package diagnose

import (
	"encoding/json"
	"time"
)

// SignInError is one AADSTS error found in a paste.
//
// Its JSON form (ca-check parse --json) has the fields in this order, each
// omitted when empty: code, name, category, message, correlationId, traceId,
// timestamp (RFC 3339, UTC), tenantId, tenantName, appId, appName,
// resourceId, resourceUri, ipAddress, devicePlatform, deviceState,
// policyIds, deviceCodeFlow. Message sits with the code it describes; the
// identifiers a support engineer copies follow.
type SignInError struct {
	Code     int      `json:"code"`
	Name     string   `json:"name,omitempty"`
	Category Category `json:"category"`
	// Message is the error's own description, whitespace collapsed, at most
	// 500 bytes.
	Message string `json:"message,omitempty"`
	// CorrelationID is what the customer's sign-in log is searched by.
	CorrelationID string `json:"correlationId,omitempty"`
	// TraceID is the STS request ID ("Request Id" on the browser error page).
	TraceID string `json:"traceId,omitempty"`
	// Timestamp is when the error happened, in UTC.
	Timestamp time.Time `json:"timestamp,omitzero"`
	// TenantID is the tenant signed in to (the customer), when the paste
	// names it: a tenant ID field, --tenant / -TenantId, or the authority URL.
	TenantID string `json:"tenantId,omitempty"`
	// TenantName is that tenant where the paste names it by verified
	// domain or display name instead ("does not exist in tenant
	// 'Contoso'", "not found in the directory 'contoso.onmicrosoft.com'").
	TenantName string `json:"tenantName,omitempty"`
	// AppID and AppName are the app signed in with or to, as the error
	// page's "App id" or a message names it.
	AppID   string `json:"appId,omitempty"`
	AppName string `json:"appName,omitempty"`
	// ResourceID is the resource app the sign-in asked for ("to access
	// '<id>'", a scope, "Resource ID"), which decides the policies that
	// apply; from ResourceURI when the URI is a well-known one.
	ResourceID string `json:"resourceId,omitempty"`
	// ResourceURI is the resource as the paste names it by URI
	// ("https://graph.microsoft.com", without a scope's /.default).
	ResourceURI    string `json:"resourceUri,omitempty"`
	IPAddress      string `json:"ipAddress,omitempty"`
	DevicePlatform string `json:"devicePlatform,omitempty"`
	DeviceState    string `json:"deviceState,omitempty"`
	// PolicyIDs are the Conditional Access policy IDs of a claims challenge
	// (capolids) that came with the error: the policies that demand more.
	PolicyIDs []string `json:"policyIds,omitempty"`
	// DeviceCodeFlow is set when the paste shows the device code flow, which
	// an authentication flows policy may block.
	DeviceCodeFlow bool `json:"deviceCodeFlow,omitempty"`
}

// signInErrorFields is SignInError without its methods.
type signInErrorFields SignInError

// MarshalJSON writes the timestamp in UTC (RFC 3339), whatever its location.
func (e SignInError) MarshalJSON() ([]byte, error) {
	f := signInErrorFields(e)
	f.Timestamp = e.Timestamp.UTC()
	return json.Marshal(f)
}

// UnmarshalJSON reads what MarshalJSON writes, the timestamp into UTC.
func (e *SignInError) UnmarshalJSON(data []byte) error {
	if err := json.Unmarshal(data, (*signInErrorFields)(e)); err != nil {
		return err
	}
	e.Timestamp = e.Timestamp.UTC()
	return nil
}
