package diagnose

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

// What a paste says of the sign-in becomes the scenario; what it does not
// say stays unknown.
func TestPastedScenario(t *testing.T) {
	pastes := pasteFixtures(t)
	pastes["azcli_app"] = "AADSTS53003: Access has been blocked by Conditional Access policies. App id: 04b07795-8ddb-461a-bbee-02f9e1bf7b46"
	// The resource decides the policies; the client app still tells the
	// client type.
	pastes["azcli_app_graph_uri"] = "az account get-access-token --resource-type ms-graph\nAADSTS50076: you must use multi-factor authentication to access 'https://graph.microsoft.com/'.\nclient_id: 04b07795-8ddb-461a-bbee-02f9e1bf7b46"
	pastes["unknown_resource_uri"] = "AADSTS53003: blocked. scope: api://contoso-hr/.default"
	tests := []struct {
		paste string
		want  Scenario
	}{
		{"browser_53003", Scenario{Apps: []string{AppAzurePortal}, ClientType: ClientBrowser, Platform: "windows",
			IP: netip.MustParseAddr("203.0.113.7"), ErrorCode: 53003, ErrorTime: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)}},
		{"mggraph_device_53000", Scenario{ClientType: ClientMobileDesktop, DeviceCodeFlow: true, ErrorCode: 53000,
			ErrorTime: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)}},
		{"azcli_50076_claims", Scenario{Apps: []string{AppAzureServiceMgmt}, ErrorCode: 50076, CorrelationID: "3b0e5f4c-9a2d-4b1e-8c7f-6d5a4e3b2c1d",
			ErrorTime:      time.Date(2024, 4, 5, 6, 7, 8, 0, time.UTC),
			ErrorPolicyIDs: []string{"8f1d3c2a-6b4e-4f0a-9d2c-1e5b7a9c3d4f", "2c6e8a1b-3d5f-4a7c-9e1b-5d3f7a9c1e2b"}}},
		{"azcli_app", Scenario{Apps: []string{AppAzureCLI}, ClientType: ClientMobileDesktop, ErrorCode: 53003}},
		{"azcli_app_graph_uri", Scenario{Apps: []string{AppMicrosoftGraph}, ClientType: ClientMobileDesktop, ErrorCode: 50076}},
		{"unknown_resource_uri", Scenario{ErrorCode: 53003}}, // named, but not an app ID: the usual apps are evaluated
		{"none", Scenario{}},
	}
	for _, tt := range tests {
		t.Run(tt.paste, func(t *testing.T) {
			text, ok := pastes[tt.paste]
			if !ok {
				t.Fatalf("no paste %s", tt.paste)
			}
			got := PastedScenario(ParseErrors(text))
			w := tt.want
			if !slices.Equal(got.Apps, w.Apps) || got.ClientType != w.ClientType || got.Platform != w.Platform ||
				got.DeviceCodeFlow != w.DeviceCodeFlow || got.ErrorCode != w.ErrorCode || !got.ErrorTime.Equal(w.ErrorTime) ||
				!slices.Equal(got.ErrorPolicyIDs, w.ErrorPolicyIDs) || (w.CorrelationID != "" && got.CorrelationID != w.CorrelationID) ||
				(w.IP.IsValid() && got.IP != w.IP) {
				t.Errorf("PastedScenario =\n%+v\nwant\n%+v", got, w)
			}
		})
	}
}
