package graphclient_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/cacheck/ca-check/diagnose"
	"github.com/cacheck/ca-check/graphclient"
	"github.com/cacheck/ca-check/graphclient/graphtest"
)

// randomGUID is a client ID of its own for each test run: MSAL caches
// managed identity tokens process-wide (by identity and resource), so a
// repeated run (-count) would otherwise never reach the endpoint.
func randomGUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// TestManagedIdentity drives azidentity's ManagedIdentityCredential
// against the fake's App Service managed identity endpoint: as the app's
// federated credential it reads any consented tenant; alone it reads the
// partner tenant only. (The system-assigned identity differs only in
// sending no client_id, and MSAL's process-wide cache would hide its
// second run.)
func TestManagedIdentity(t *testing.T) {
	miClientID := randomGUID()
	tests := []struct {
		name         string
		clientID     string // the app; "" for the managed identity alone
		miID         string
		wantResource string // asked of the managed identity endpoint
		wantMIClient string
	}{
		{"federated credential of the app", appID, miClientID, "api://AzureADTokenExchange", miClientID},
		{"alone", "", miClientID, "https://graph.microsoft.com", miClientID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFake(t)
			endpoint, header := s.ManagedIdentity(partnerID)
			t.Setenv("IDENTITY_ENDPOINT", endpoint)
			t.Setenv("IDENTITY_HEADER", header)
			c := newClient(t, s, func(cfg *graphclient.Config) {
				cfg.ClientSecret, cfg.ClientID, cfg.ManagedIdentityClientID = "", tt.clientID, tt.miID
			})
			ctx := context.Background()
			if rels, err := c.Customers(ctx); err != nil || len(rels) == 0 {
				t.Fatalf("Customers = %d, %v", len(rels), err)
			}
			d, err := c.Diagnose(ctx, customerID, scenario())
			if tt.clientID == "" {
				if diagnose.ErrorCode(err) != diagnose.EINVALID || !strings.Contains(diagnose.ErrorMessage(err), "a managed identity alone can read only the partner tenant") {
					t.Errorf("Diagnose of a customer = %v, want EINVALID", err)
				}
			} else if err != nil || len(d.Missing) != 0 {
				t.Errorf("Diagnose = %v, %v", d, err)
			}

			var mi, tokens int
			for _, r := range s.Requests() {
				switch {
				case r.Path == graphtest.ManagedIdentityPath:
					mi++
					if r.Query.Get("resource") != tt.wantResource || r.Query.Get("client_id") != tt.wantMIClient || r.Status != 200 {
						t.Errorf("managed identity request %v: status %d", r.Query, r.Status)
					}
				case strings.HasSuffix(r.Path, "/oauth2/v2.0/token"):
					tokens++
					form, _ := url.ParseQuery(string(r.Body))
					// The assertion is the managed identity's token.
					var claims struct{ TID, AppID string }
					parts := strings.Split(form.Get("client_assertion"), ".")
					if len(parts) == 3 {
						payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
						json.Unmarshal(payload, &claims)
					}
					if form.Get("client_id") != appID || form.Get("client_secret") != "" ||
						form.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" ||
						claims.TID != partnerID || claims.AppID != miClientID {
						t.Errorf("token request %v: assertion claims %+v, want the managed identity's token", redact(form), claims)
					}
				}
			}
			if mi == 0 {
				t.Errorf("the managed identity endpoint was never asked")
			}
			if want := map[string]int{appID: 2, "": 0}[tt.clientID]; tokens != want {
				t.Errorf("%d app token requests, want %d", tokens, want)
			}
		})
	}
}
