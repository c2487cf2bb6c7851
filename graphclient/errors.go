package graphclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/cacheck/ca-check/diagnose"
)

// GraphError is an error answer of Microsoft Graph.
type GraphError struct {
	Status    int
	Code      string // e.g. Authorization_RequestDenied
	Message   string
	RequestID string
	// RetryAfter is Graph's Retry-After, when it sent one.
	RetryAfter time.Duration
}

func (e *GraphError) Error() string {
	s := fmt.Sprintf("Graph answered %d", e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.RequestID != "" {
		s += " (request-id " + e.RequestID + ")"
	}
	return s
}

// NetworkError is a request that got no HTTP answer at all: the
// connection was refused or dropped, the host name does not resolve, TLS
// failed.
type NetworkError struct {
	Host    string // host[:port]
	Service string // "Entra ID", "Microsoft Graph"
	Err     error
}

func (e *NetworkError) Error() string {
	cause, _ := netCause(e.Err, e.Host, "")
	return "could not reach " + e.Service + " at " + e.Host + ": " + cause
}

func (e *NetworkError) Unwrap() error { return e.Err }

// settings names the variables that choose the service's address.
func (e *NetworkError) settings() string {
	if e.Service == "Entra ID" {
		return "CACHECK_CLOUD / CACHECK_AUTHORITY_HOST"
	}
	return "CACHECK_CLOUD / CACHECK_GRAPH_URL"
}

// sentence is the whole story in one sentence: which service at which host
// could not be reached, for what, why, and what to check.
func (e *NetworkError) sentence(doing string) string {
	cause, check := netCause(e.Err, e.Host, e.settings())
	return "could not reach " + e.Service + " at " + e.Host + " to " + doing + ": " + cause + "; check " + check
}

// netCause says in a few words why a connection to host failed, and what
// to check (settings: the variables that choose the address).
func netCause(err error, host, settings string) (cause, check string) {
	var dns *net.DNSError
	var cert *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused", "that " + host + " is the right address (" + settings + ") and that no firewall or proxy (HTTPS_PROXY) blocks it"
	case errors.As(err, &dns) && dns.IsNotFound:
		return "the host name does not resolve", "the host name (" + settings + ") and this machine's DNS"
	case errors.As(err, &dns):
		return "DNS lookup of " + dns.Name + " failed", "this machine's DNS resolver"
	case errors.As(err, &cert), errors.As(err, &unknownCA):
		return "its TLS certificate is not trusted", "for a TLS-inspecting proxy, whose CA must be among this machine's trusted certificates"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET):
		return "the connection was closed without an answer", "the proxy (HTTPS_PROXY) and the firewall between ca-check and " + host + ", then try again"
	}
	check = "the network, the proxy (HTTPS_PROXY) and the firewall between ca-check and " + host
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error(), check
	}
	return err.Error(), check
}

// AuthError is a token request Entra ID refused.
type AuthError struct {
	Tenant        string
	Codes         []int // AADSTS codes
	Description   string
	CorrelationID string
	Err           error // the *azidentity.AuthenticationFailedError
}

func (e *AuthError) Error() string {
	if e.Description != "" {
		return "Entra ID refused a token for tenant " + e.Tenant + ": " + firstLine(e.Description)
	}
	return "Entra ID refused a token for tenant " + e.Tenant
}

func (e *AuthError) Unwrap() error { return e.Err }

// HasCode reports whether Entra answered with AADSTS code.
func (e *AuthError) HasCode(code int) bool { return slices.Contains(e.Codes, code) }

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\r\n")
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// Entra error codes that mean the app has no (or no usable) consent in the
// tenant.
var consentCodes = []int{
	7000229, // the app has no service principal in the tenant
	65001,   // consent not granted
	700016,  // application not found in the directory
	500011,  // resource principal (Graph) not found in the tenant
	90094,   // admin consent required
	90099,   // the application has not been authorized in the tenant
}

// op describes a read or write for error messages: what it reads and which
// permission it needs.
type op struct {
	tenant string
	what   string // "the Conditional Access policies"
	perm   string // "Policy.Read.All"
}

// verb says what the operation does to its object, for messages.
func (o op) verb() string {
	if o.perm == permWrite {
		return "change"
	}
	return "read"
}

// fail turns an error from the SDK or azidentity into a *diagnose.Error a
// support engineer can act on. It never calls ODataError.Error(), which
// panics on a body without a message.
func (c *Client) fail(o op, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := errors.AsType[*diagnose.Error](err); ok {
		return err
	}
	if ne, ok := errors.AsType[*NetworkError](err); ok && errors.Is(err, context.DeadlineExceeded) {
		return &diagnose.Error{Code: diagnose.EUNAVAILABLE, Err: err,
			Message: fmt.Sprintf("%s at %s did not issue a token for tenant %s within %s (retries included); try again, and check the network to %s and Microsoft 365 service health if it persists", ne.Service, ne.Host, o.tenant, c.timeout, ne.Host)}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &diagnose.Error{Code: diagnose.EUNAVAILABLE, Err: err,
			Message: fmt.Sprintf("Microsoft Graph did not answer the read of %s in tenant %s within %s (retries included); try again, and check Microsoft 365 service health if it persists", o.what, o.tenant, c.timeout)}
	case errors.Is(err, context.Canceled):
		return &diagnose.Error{Code: diagnose.EUNAVAILABLE, Err: err, Message: "cancelled while reading " + o.what}
	}
	if ne, ok := errors.AsType[*NetworkError](err); ok {
		return &diagnose.Error{Code: diagnose.EUNAVAILABLE, Err: err,
			Message: ne.sentence(fmt.Sprintf("%s %s in tenant %s", o.verb(), o.what, o.tenant))}
	}
	if ae, ok := errors.AsType[*AuthError](err); ok {
		return c.authFailure(ae)
	}
	if af, ok := errors.AsType[*azidentity.AuthenticationFailedError](err); ok {
		return c.authFailure(authError(o.tenant, af))
	}
	if ge := graphError(err); ge != nil {
		return c.graphFailure(o, ge)
	}
	if ue, ok := errors.AsType[*url.Error](err); ok {
		ne := &NetworkError{Host: hostOf(ue.URL), Service: "Microsoft Graph", Err: ue.Err}
		return &diagnose.Error{Code: diagnose.EUNAVAILABLE, Err: err,
			Message: ne.sentence(fmt.Sprintf("%s %s in tenant %s (retries included)", o.verb(), o.what, o.tenant))}
	}
	return &diagnose.Error{Code: diagnose.EUNAVAILABLE, Err: err,
		Message: fmt.Sprintf("could not reach Microsoft Graph to read %s in tenant %s; check the network and try again", o.what, o.tenant)}
}

func hostOf(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		return u.Host
	}
	return raw
}

// authError reads the Entra error body of a failed token request.
func authError(tenant string, af *azidentity.AuthenticationFailedError) *AuthError {
	ae := &AuthError{Tenant: tenant, Err: af}
	if af.RawResponse == nil {
		return ae
	}
	body, err := runtime.Payload(af.RawResponse)
	if err != nil {
		return ae
	}
	var b struct {
		Codes         []int  `json:"error_codes"`
		Description   string `json:"error_description"`
		CorrelationID string `json:"correlation_id"`
	}
	if json.Unmarshal(body, &b) == nil {
		ae.Codes, ae.Description, ae.CorrelationID = b.Codes, b.Description, b.CorrelationID
	}
	return ae
}

func (c *Client) authFailure(ae *AuthError) error {
	t := ae.Tenant
	switch {
	case slices.ContainsFunc(consentCodes, ae.HasCode):
		return &diagnose.Error{Code: diagnose.EUNAUTHORIZED, Err: ae,
			Message: fmt.Sprintf("ca-check is not consented in tenant %s: a Global Administrator (or Privileged Role Administrator) of that tenant must grant admin consent at %s", t, c.AdminConsentURL(t))}
	case ae.HasCode(90002), ae.HasCode(90072):
		return &diagnose.Error{Code: diagnose.ENOTFOUND, Err: ae,
			Message: fmt.Sprintf("tenant %s was not found in this cloud: check the tenant ID or domain (a tenant in another national cloud needs CACHECK_CLOUD)", t)}
	case ae.HasCode(7000215), ae.HasCode(7000222), ae.HasCode(700027), ae.HasCode(700024), ae.HasCode(70021), ae.HasCode(7000218):
		return &diagnose.Error{Code: diagnose.EUNAUTHORIZED, Err: ae,
			Message: "Entra ID refused ca-check's own credential (wrong or expired client secret, unregistered certificate, or federated credential mismatch): check CACHECK_CLIENT_SECRET / CACHECK_CLIENT_CERTIFICATE_PATH / the app's federated credentials in the partner tenant"}
	}
	return &diagnose.Error{Code: diagnose.EUNAUTHORIZED, Err: ae,
		Message: fmt.Sprintf("could not get a token for tenant %s; if the app was never consented there, grant consent at %s", t, c.AdminConsentURL(t))}
}

// graphError extracts Graph's error answer from an SDK error, or nil.
func graphError(err error) *GraphError {
	if ge, ok := errors.AsType[*GraphError](err); ok {
		return ge
	}
	if oe, ok := errors.AsType[*odataerrors.ODataError](err); ok {
		ge := &GraphError{Status: oe.ResponseStatusCode}
		if me := oe.GetErrorEscaped(); me != nil {
			if p := me.GetCode(); p != nil {
				ge.Code = *p
			}
			if p := me.GetMessage(); p != nil {
				ge.Message = *p
			}
		}
		if oe.ResponseHeaders != nil {
			if v := oe.ResponseHeaders.Get("request-id"); len(v) > 0 {
				ge.RequestID = v[0]
			}
			if v := oe.ResponseHeaders.Get("Retry-After"); len(v) > 0 {
				ge.RetryAfter, _ = parseRetryAfter(v[0], time.Now())
			}
		}
		return ge
	}
	if ae, ok := errors.AsType[*abs.ApiError](err); ok {
		ge := &GraphError{Status: ae.ResponseStatusCode, Message: ae.Message}
		if ae.ResponseHeaders != nil {
			if v := ae.ResponseHeaders.Get("request-id"); len(v) > 0 {
				ge.RequestID = v[0]
			}
			if v := ae.ResponseHeaders.Get("Retry-After"); len(v) > 0 {
				ge.RetryAfter, _ = parseRetryAfter(v[0], time.Now())
			}
		}
		return ge
	}
	return nil
}

// nonPremium reports Graph's answer for a feature that needs Entra ID P1.
func (e *GraphError) nonPremium() bool {
	return e.Status == 403 && (strings.Contains(e.Code, "NonPremium") || strings.Contains(e.Message, "NonPremium") ||
		strings.Contains(e.Message, "does not have a SKU"))
}

// seconds shows a wait as whole seconds, rounded up: "retry after 30 s".
func seconds(d time.Duration) string {
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10) + " s"
}

func (c *Client) graphFailure(o op, ge *GraphError) error {
	switch {
	case ge.nonPremium():
		return &diagnose.Error{Code: diagnose.EUNAUTHORIZED, Err: ge,
			Message: fmt.Sprintf("tenant %s has no Microsoft Entra ID P1 licence, which %s requires", o.tenant, o.what)}
	case ge.Status == 401:
		return &diagnose.Error{Code: diagnose.EUNAUTHORIZED, Err: ge,
			Message: fmt.Sprintf("Microsoft Graph refused ca-check's token for tenant %s; if the app was just consented, retry in a few minutes, otherwise grant consent at %s", o.tenant, c.AdminConsentURL(o.tenant))}
	case ge.Status == 403:
		return &diagnose.Error{Code: diagnose.EUNAUTHORIZED, Err: ge,
			Message: fmt.Sprintf("ca-check lacks the %s application permission in tenant %s to read %s: add it to the app registration and have an administrator of that tenant re-consent at %s", o.perm, o.tenant, o.what, c.AdminConsentURL(o.tenant))}
	case ge.Status == 404:
		return &diagnose.Error{Code: diagnose.ENOTFOUND, Err: ge,
			Message: fmt.Sprintf("%s not found in tenant %s", o.what, o.tenant)}
	case ge.Status == 429 && ge.RetryAfter > 0:
		return &diagnose.Error{Code: diagnose.EUNAVAILABLE, Err: ge,
			Message: fmt.Sprintf("Microsoft Graph is throttling ca-check in tenant %s (reading %s); retry after %s", o.tenant, o.what, seconds(ge.RetryAfter))}
	case ge.Status == 429:
		return &diagnose.Error{Code: diagnose.EUNAVAILABLE, Err: ge,
			Message: fmt.Sprintf("Microsoft Graph is throttling ca-check in tenant %s (still 429 after %d retries); try again in a minute", o.tenant, c.retries)}
	case ge.Status >= 500 && ge.RetryAfter > 0:
		return &diagnose.Error{Code: diagnose.EUNAVAILABLE, Err: ge,
			Message: fmt.Sprintf("Microsoft Graph failed reading %s in tenant %s (%d); retry after %s, and check Microsoft 365 service health if it persists", o.what, o.tenant, ge.Status, seconds(ge.RetryAfter))}
	case ge.Status >= 500:
		return &diagnose.Error{Code: diagnose.EUNAVAILABLE, Err: ge,
			Message: fmt.Sprintf("Microsoft Graph failed reading %s in tenant %s (%d); try again, and check Microsoft 365 service health if it persists", o.what, o.tenant, ge.Status)}
	}
	return &diagnose.Error{Code: diagnose.EINVALID, Err: ge,
		Message: fmt.Sprintf("Microsoft Graph refused the request for %s in tenant %s", o.what, o.tenant)}
}
