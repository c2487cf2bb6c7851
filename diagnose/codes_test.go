package diagnose

import (
	"strconv"
	"strings"
	"testing"
)

func TestCodeTableCoversPartnerCodes(t *testing.T) {
	// The codes a partner meets when reaching a customer tenant, with the
	// names Microsoft publishes and the kind of block each one is.
	want := map[int]struct {
		name     string
		category Category
	}{
		50020:  {"UserUnauthorized", CategoryGDAP},
		50076:  {"UserStrongAuthClientAuthNRequired", CategoryMFA},
		50079:  {"UserStrongAuthEnrollmentRequired", CategoryMFA},
		50105:  {"EntitlementGrantsNotFound", CategoryConsent},
		50126:  {"InvalidUserNameOrPassword", CategoryCredentials},
		50158:  {"ExternalSecurityChallenge", CategoryConditionalAccess},
		50177:  {"ExternalChallengeNotSupportedForPassthroughUsers", CategoryConditionalAccess},
		50178:  {"SessionControlNotSupportedForPassthroughUsers", CategoryConditionalAccess},
		53000:  {"DeviceNotCompliant", CategoryConditionalAccess},
		53001:  {"DeviceNotDomainJoined", CategoryConditionalAccess},
		53002:  {"ApplicationUsedIsNotAnApprovedApp", CategoryConditionalAccess},
		53003:  {"BlockedByConditionalAccess", CategoryConditionalAccess},
		53004:  {"ProofUpBlockedDueToRisk", CategoryMFA},
		53009:  {"", CategoryConditionalAccess},
		53010:  {"ProofUpBlockedDueToSecurityInfoAcr", CategoryMFA},
		53011:  {"", CategoryCrossTenant},
		530032: {"BlockedByConditionalAccessOnSecurityPolicy", CategoryConditionalAccess},
		530034: {"DelegatedAdminBlockedDueToSuspiciousActivity", CategoryGDAP},
		530035: {"BlockedBySecurityDefaults", CategoryOther},
		65001:  {"DelegationDoesNotExist", CategoryConsent},
		70043:  {"BadTokenDueToSignInFrequency", CategoryConditionalAccess},
		90072:  {"PassThroughUserMfaError", CategoryGDAP},
		500011: {"InvalidResourceServicePrincipalNotFound", CategoryNotFound},
		500212: {"NotAllowedByOutboundPolicyTenant", CategoryCrossTenant},
		500213: {"NotAllowedByInboundPolicyTenant", CategoryCrossTenant},
		700016: {"UnauthorizedClient_DoesNotMatchRequest", CategoryNotFound},
	}
	for code, w := range want {
		if !known(code) {
			t.Errorf("AADSTS%d is not in the table", code)
			continue
		}
		info := LookupCode(code)
		if info.Code != code || info.Name != w.name || info.Category != w.category {
			t.Errorf("AADSTS%d: got %d %q %q, want %q %q", code, info.Code, info.Name, info.Category, w.name, w.category)
		}
	}
}

func TestCodeTableEntriesAreUsable(t *testing.T) {
	valid := map[Category]bool{
		CategoryConditionalAccess: true, CategoryMFA: true, CategoryGDAP: true, CategoryConsent: true,
		CategoryCrossTenant: true, CategoryCredentials: true, CategoryNotFound: true, CategoryOther: true,
	}
	codes := knownCodes()
	if len(codes) != len(codeTable) {
		t.Fatalf("KnownCodes has %d codes, the table %d", len(codes), len(codeTable))
	}
	for i, code := range codes {
		if i > 0 && codes[i-1] >= code {
			t.Fatalf("KnownCodes not ascending at %d", i)
		}
		info := LookupCode(code)
		if n := len(strconv.Itoa(code)); n < 5 || n > 7 {
			t.Errorf("AADSTS%d: not a 5 to 7 digit code, ParseErrors can never return it", code)
		}
		if !valid[info.Category] {
			t.Errorf("AADSTS%d: category %q", code, info.Category)
		}
		for what, s := range map[string]string{"meaning": info.Meaning, "next step": info.NextStep} {
			if s == "" || !strings.HasSuffix(s, ".") || strings.Contains(s, "  ") || strings.TrimSpace(s) != s {
				t.Errorf("AADSTS%d: %s %q is not a finished sentence", code, what, s)
			}
		}
		if strings.Contains(info.Name, " ") {
			t.Errorf("AADSTS%d: name %q", code, info.Name)
		}
	}
}

// TestConditionalAccessNextSteps: for every CA-category code the next step
// must lead to the fix DESIGN.md describes, or say why not.
func TestConditionalAccessNextSteps(t *testing.T) {
	for _, code := range knownCodes() {
		info := LookupCode(code)
		if info.Category != CategoryConditionalAccess {
			continue
		}
		if !strings.Contains(info.NextStep, "Service provider users") || !strings.Contains(info.NextStep, "sign-in log") {
			t.Errorf("AADSTS%d: next step %q does not lead to the sign-in log and the Service provider users exclusion", code, info.NextStep)
		}
	}
	if s := LookupCode(50020).NextStep; !strings.Contains(s, "GDAP relationship") {
		t.Errorf("AADSTS50020 next step %q does not send the engineer to the GDAP relationship", s)
	}
	if s := LookupCode(65001).NextStep; !strings.Contains(s, "adminconsent") {
		t.Errorf("AADSTS65001 next step %q gives no admin consent URL", s)
	}
}

func TestLookupUnknownCode(t *testing.T) {
	info := LookupCode(1234567)
	if known(1234567) || info.Code != 1234567 || info.Name != "" || info.Category != CategoryOther {
		t.Fatalf("got %+v", info)
	}
	if !strings.Contains(info.Meaning, "AADSTS1234567") || !strings.Contains(info.NextStep, "code=1234567") {
		t.Errorf("unknown code's text does not name it: %+v", info)
	}
}
