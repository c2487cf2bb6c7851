package diagnose

import (
	"fmt"
	"sort"
)

// Category classifies an AADSTS code by what a partner does about it. It is the
// "what kind of block" of DESIGN.md: the code alone never names the policy.
type Category string

// The categories. Only CategoryConditionalAccess errors are fixed by excluding
// service provider users from a policy; the others point elsewhere (the GDAP
// relationship, consent, cross-tenant settings, the partner's own account).
const (
	// A Conditional Access policy (block, grant control or session control)
	// or a custom control stopped the sign-in.
	CategoryConditionalAccess Category = "conditional_access"
	// Multifactor authentication is required, not done, or not registered.
	CategoryMFA Category = "mfa"
	// The partner user has no usable delegated access to the customer tenant.
	CategoryGDAP Category = "gdap"
	// The app is not consented to, or not authorized for delegated admins.
	CategoryConsent Category = "consent"
	// Cross-tenant access settings or tenant restrictions refused the sign-in.
	CategoryCrossTenant Category = "cross_tenant"
	// The partner's own credentials or session are the problem.
	CategoryCredentials Category = "credentials"
	// A tenant, user, app or resource does not exist where it was asked for.
	CategoryNotFound Category = "not_found"
	// Anything else, including codes the table does not know.
	CategoryOther Category = "other"
)

// CodeInfo describes one AADSTS code.
type CodeInfo struct {
	Code int
	// Name is Microsoft's published name ("BlockedByConditionalAccess"), or ""
	// where Microsoft's error code reference publishes none.
	Name     string
	Category Category
	// Meaning is one plain-English sentence.
	Meaning string
	// NextStep is what a partner support engineer should do next.
	NextStep string
}

// The sentences shared by several codes say the same thing the same way.
const (
	nextStepFindPolicy = "Find the failed sign-in in the customer's sign-in log by its correlation ID, open the Conditional Access tab to see which policy failed, and exclude Service provider users (scoped to your partner tenant) from that policy."
	nextStepSignInLog  = "Look the sign-in up in the customer's sign-in log by its correlation ID to see which policy or setting applied."
)

// codeTable lists the codes partners meet when reaching a customer tenant,
// with names from Microsoft's "Microsoft Entra authentication and authorization
// error codes" reference. Meanings and next steps are written for a partner
// engineer, not an app developer.
var codeTable = map[int]CodeInfo{
	// Conditional Access: a policy's block or grant the partner cannot satisfy.
	53000: {Name: "DeviceNotCompliant", Category: CategoryConditionalAccess,
		Meaning:  "A Conditional Access policy requires a compliant device, and the partner's device is not compliant in the customer tenant (it never can be: it is not enrolled there).",
		NextStep: nextStepFindPolicy + " Alternatively the customer can trust compliant devices from your tenant in its cross-tenant inbound settings."},
	53001: {Name: "DeviceNotDomainJoined", Category: CategoryConditionalAccess,
		Meaning:  "A Conditional Access policy requires a (hybrid) domain-joined device, and the partner's device is not joined to the customer's domain.",
		NextStep: nextStepFindPolicy + " Alternatively the customer can trust hybrid-joined devices from your tenant in its cross-tenant inbound settings."},
	53002: {Name: "ApplicationUsedIsNotAnApprovedApp", Category: CategoryConditionalAccess,
		Meaning:  "A Conditional Access policy requires an approved client app, and the app used is not one.",
		NextStep: nextStepFindPolicy},
	53003: {Name: "BlockedByConditionalAccess", Category: CategoryConditionalAccess,
		Meaning:  "A Conditional Access policy in the customer tenant blocked the sign-in (a block grant, or a condition such as location that the partner cannot meet).",
		NextStep: nextStepFindPolicy},
	53005: {Category: CategoryConditionalAccess,
		Meaning:  "A Conditional Access policy requires an Intune app protection policy, which the client app does not enforce.",
		NextStep: nextStepFindPolicy},
	53009: {Category: CategoryConditionalAccess,
		Meaning:  "A Conditional Access policy requires an app protected by an Intune app protection policy, and the app used is not.",
		NextStep: nextStepFindPolicy},
	530002: {Category: CategoryConditionalAccess,
		Meaning:  "A Conditional Access policy requires a compliant device, and the partner's device is not compliant in the customer tenant.",
		NextStep: nextStepFindPolicy},
	530003: {Category: CategoryConditionalAccess,
		Meaning:  "A Conditional Access policy requires a managed (compliant or joined) device, and the partner's device is not managed by the customer.",
		NextStep: nextStepFindPolicy},
	530033: {Category: CategoryConditionalAccess,
		Meaning:  "A Conditional Access policy requires a device managed by the customer, and the partner's device is not.",
		NextStep: nextStepFindPolicy},
	530032: {Name: "BlockedByConditionalAccessOnSecurityPolicy", Category: CategoryConditionalAccess,
		Meaning:  "A tenant-level security policy in the customer tenant blocked the request.",
		NextStep: nextStepSignInLog + " If a Conditional Access policy is named, exclude Service provider users from it; otherwise ask the customer which security policy blocks delegated admins."},
	50005: {Name: "DevicePolicyError", Category: CategoryConditionalAccess,
		Meaning:  "The sign-in came from a device platform that a Conditional Access policy does not allow.",
		NextStep: nextStepFindPolicy},
	50097: {Name: "DeviceAuthenticationRequired", Category: CategoryConditionalAccess,
		Meaning:  "A Conditional Access policy needs the device to authenticate, and the partner's device is not registered in the customer tenant.",
		NextStep: nextStepFindPolicy},
	50131: {Name: "ConditionalAccessFailed", Category: CategoryConditionalAccess,
		Meaning:  "Conditional Access refused the sign-in for a reason such as device state, suspicious activity or an access policy decision.",
		NextStep: nextStepFindPolicy},
	50158: {Name: "ExternalSecurityChallenge", Category: CategoryConditionalAccess,
		Meaning:  "A Conditional Access policy requires an external security challenge (a custom control such as Duo) that a partner user cannot complete in the customer tenant.",
		NextStep: nextStepFindPolicy + " A custom control can never be satisfied by service provider users."},
	50177: {Name: "ExternalChallengeNotSupportedForPassthroughUsers", Category: CategoryConditionalAccess,
		Meaning:  "A Conditional Access policy requires an external challenge (a custom control such as Duo), which is not supported for passthrough users such as GDAP partner users.",
		NextStep: nextStepFindPolicy},
	50178: {Name: "SessionControlNotSupportedForPassthroughUsers", Category: CategoryConditionalAccess,
		Meaning:  "A Conditional Access policy applies a session control that is not supported for passthrough users such as GDAP partner users.",
		NextStep: nextStepFindPolicy},
	70043: {Name: "BadTokenDueToSignInFrequency", Category: CategoryConditionalAccess,
		Meaning:  "The refresh token expired because of a Conditional Access sign-in frequency control; this is not a block.",
		NextStep: "Sign in again interactively. If it keeps happening, find the policy with the sign-in frequency control in the customer's sign-in log and consider excluding Service provider users from it."},

	// MFA: satisfied in the partner tenant for GDAP users, so these point at
	// the partner's own sign-in or at a client that cannot prompt.
	50072: {Name: "UserStrongAuthEnrollmentRequiredInterrupt", Category: CategoryMFA,
		Meaning:  "The user must register for multifactor authentication before signing in.",
		NextStep: "Register MFA for the partner account in your own tenant (GDAP users bring their MFA from home), then sign in again."},
	50074: {Name: "UserStrongAuthClientAuthNRequiredInterrupt", Category: CategoryMFA,
		Meaning:  "Multifactor authentication is required and the user did not pass the challenge.",
		NextStep: "Sign in again interactively and complete MFA in your partner tenant."},
	50076: {Name: "UserStrongAuthClientAuthNRequired", Category: CategoryMFA,
		Meaning:  "Multifactor authentication is required (by a Conditional Access policy, per-user MFA or a location change) and the token request did not carry it.",
		NextStep: "Sign in again interactively so MFA can be done in your partner tenant; for scripts, use the claims challenge (az login --claims-challenge, or an interactive Connect-* call). A plain MFA policy is no obstacle for GDAP users, so if it persists, look for an authentication strength in the policy named by the correlation ID."},
	50078: {Name: "UserStrongAuthExpired", Category: CategoryMFA,
		Meaning:  "The multifactor authentication presented has expired under the customer's policy.",
		NextStep: "Sign in again interactively and redo MFA."},
	50079: {Name: "UserStrongAuthEnrollmentRequired", Category: CategoryMFA,
		Meaning:  "Multifactor authentication is required and the user has not registered a method for it.",
		NextStep: "Register MFA for the partner account in your own partner tenant, then sign in again; GDAP users cannot register security info in the customer tenant."},
	53004: {Name: "ProofUpBlockedDueToRisk", Category: CategoryMFA,
		Meaning:  "The user must complete MFA registration, but registration is blocked because the sign-in is risky.",
		NextStep: "Have the partner account's risk remediated in your own tenant, register MFA there, and try again."},
	53010: {Name: "ProofUpBlockedDueToSecurityInfoAcr", Category: CategoryMFA,
		Meaning:  "MFA methods cannot be registered because the customer requires registration from specific locations or devices.",
		NextStep: "Register MFA for the partner account in your own tenant; GDAP users never register security info in the customer tenant."},

	// GDAP: the delegated access itself.
	50020: {Name: "UserUnauthorized", Category: CategoryGDAP,
		Meaning:  "The user's account does not exist in the customer tenant and has no delegated access to it.",
		NextStep: "Check in Partner Center that the GDAP relationship with this customer is active (not expired), that the user is in a security group assigned to it, and that the assignment covers the role the task needs; sign in through the customer's tenant ID, not /common."},
	90072: {Name: "PassThroughUserMfaError", Category: CategoryGDAP,
		Meaning:  "The external account is not known to the customer tenant, so it cannot satisfy the tenant's MFA requirement.",
		NextStep: "Check that an active GDAP relationship covers this user (security group and role assignment), and that MFA is enforced on the account in your partner tenant."},
	530034: {Name: "DelegatedAdminBlockedDueToSuspiciousActivity", Category: CategoryGDAP,
		Meaning:  "A delegated administrator was blocked from the customer tenant because of account risk in their home (partner) tenant.",
		NextStep: "Investigate and remediate the partner account's risk in your own tenant (Identity Protection risky users), then sign in again; no change in the customer tenant helps."},

	// Consent: the app is not set up for this user in this tenant.
	65001: {Name: "DelegationDoesNotExist", Category: CategoryConsent,
		Meaning:  "Nobody has consented to the application in the customer tenant for the permissions it asks for.",
		NextStep: "Have a customer admin grant admin consent at https://login.microsoftonline.com/<customer-tenant-id>/adminconsent?client_id=<app-id>, or pre-consent the app for delegated admins through the Partner Center application consent API."},
	65004: {Name: "UserDeclinedConsent", Category: CategoryConsent,
		Meaning:  "The user declined to consent to the application.",
		NextStep: "Sign in again and accept the consent prompt, or have a customer admin grant admin consent."},
	90094: {Name: "AdminConsentRequired", Category: CategoryConsent,
		Meaning:  "The application needs permissions that only an administrator of the customer tenant can grant.",
		NextStep: "Have a customer admin grant admin consent to the app, or pre-consent it through the Partner Center application consent API."},
	90099: {Category: CategoryConsent,
		Meaning:  "The application has not been authorized in the customer tenant for partner delegated administrators.",
		NextStep: "Pre-consent the app in the customer tenant through the Partner Center application consent API, or have a customer admin consent to it."},
	50105: {Name: "EntitlementGrantsNotFound", Category: CategoryConsent,
		Meaning:  "The application requires user assignment and the signed-in user is not assigned to it.",
		NextStep: "Service provider users cannot be assigned to apps in the customer tenant: ask the customer to turn off \"Assignment required\" on the enterprise app, or use a customer-side account for this app."},

	// Cross-tenant access settings and tenant restrictions.
	500212: {Name: "NotAllowedByOutboundPolicyTenant", Category: CategoryCrossTenant,
		Meaning:  "Your own (partner) tenant's outbound cross-tenant access policy does not allow access to the customer tenant.",
		NextStep: "Review the outbound B2B collaboration settings in your partner tenant's cross-tenant access settings for this customer."},
	500213: {Name: "NotAllowedByInboundPolicyTenant", Category: CategoryCrossTenant,
		Meaning:  "The customer tenant's inbound cross-tenant access policy does not allow this user in.",
		NextStep: "Ask the customer to review the inbound settings for your partner tenant in its cross-tenant access settings (External Identities > Cross-tenant access settings)."},
	500021: {Category: CategoryCrossTenant,
		Meaning:  "Tenant restrictions on the network used block access to the customer tenant.",
		NextStep: "Use a network whose proxy allows the customer tenant, or add the customer tenant to your tenant restrictions allow list."},
	500022: {Category: CategoryCrossTenant,
		Meaning:  "Tenant restrictions on the network used block access to the customer tenant.",
		NextStep: "Use a network whose proxy allows the customer tenant, or add the customer tenant to your tenant restrictions allow list."},
	53011: {Category: CategoryCrossTenant,
		Meaning:  "The user was blocked because of risk detected on their home (partner) tenant.",
		NextStep: "Remediate the partner account's risk in your own tenant (Identity Protection risky users), then sign in again."},

	// Credentials and sessions of the partner account.
	50126: {Name: "InvalidUserNameOrPassword", Category: CategoryCredentials,
		Meaning:  "The username or password is wrong.",
		NextStep: "Sign in again with the right partner account credentials; Conditional Access was not reached."},
	50053: {Name: "IdsLocked", Category: CategoryCredentials,
		Meaning:  "The account is locked after too many failed attempts, or the sign-in came from an IP address with malicious activity.",
		NextStep: "Wait for the lockout to expire or have your own admin unlock the partner account; check the failure reason in your tenant's sign-in log."},
	50055: {Name: "InvalidPasswordExpiredPassword", Category: CategoryCredentials,
		Meaning:  "The account's password has expired.",
		NextStep: "Reset the partner account's password in your own tenant and sign in again."},
	50057: {Name: "UserDisabled", Category: CategoryCredentials,
		Meaning:  "The account is disabled.",
		NextStep: "Have your own admin re-enable the partner account."},
	50133: {Name: "SsoArtifactRevoked", Category: CategoryCredentials,
		Meaning:  "The session is no longer valid because the password expired or was recently changed.",
		NextStep: "Sign out and sign in again."},
	50173: {Name: "FreshTokenNeeded", Category: CategoryCredentials,
		Meaning:  "The grant was revoked (for example after a password change or a sign-out everywhere) and a fresh sign-in is needed.",
		NextStep: "Sign out and sign in again interactively."},
	75011: {Name: "NoMatchedAuthnContextInOutputClaims", Category: CategoryCredentials,
		Meaning:  "The way the user authenticated does not match the authentication method the service asked for.",
		NextStep: "Sign out and sign in again with the requested method (for example with MFA instead of a cached session)."},

	// Not found: the wrong tenant, or an app missing from it.
	50034: {Name: "UserAccountNotFound", Category: CategoryNotFound,
		Meaning:  "The user account does not exist in the tenant signed in to.",
		NextStep: "Check the username; partner users sign in with their partner-tenant account and reach the customer through GDAP, so make sure the customer's tenant ID, not its domain login, is used as the authority."},
	51004: {Name: "UserAccountNotInDirectory", Category: CategoryNotFound,
		Meaning:  "The user account does not exist in the directory signed in to.",
		NextStep: "Check that the sign-in targets the customer tenant through GDAP with your partner account, and that the GDAP relationship is active."},
	90002: {Name: "InvalidTenantName", Category: CategoryNotFound,
		Meaning:  "The tenant name or ID was not found.",
		NextStep: "Check the customer's tenant ID or domain (ca-check resolves a domain to the tenant ID) and the cloud (commercial, GCC High, China)."},
	500011: {Name: "InvalidResourceServicePrincipalNotFound", Category: CategoryNotFound,
		Meaning:  "The resource application has no service principal in the customer tenant (it was never provisioned or consented there), or the request went to the wrong tenant.",
		NextStep: "Check that the request targets the customer's tenant ID; if it does, the resource app is not in the customer tenant: have a customer admin provision or consent to it (for a Microsoft service, the customer may lack the subscription)."},
	700016: {Name: "UnauthorizedClient_DoesNotMatchRequest", Category: CategoryNotFound,
		Meaning:  "The client application was not found in the customer tenant: it was never installed or consented there, or the request went to the wrong tenant.",
		NextStep: "Check the app ID and that the request targets the customer's tenant ID; then have a customer admin consent to the app, or pre-consent it through the Partner Center application consent API."},

	// Other codes that show up next to the ones above.
	530035: {Name: "BlockedBySecurityDefaults", Category: CategoryOther,
		Meaning:  "Security defaults in the customer tenant blocked the request (legacy authentication, or a request judged unsafe); this is not a Conditional Access policy.",
		NextStep: "Use a modern-authentication client with MFA; no exclusion is possible under security defaults, so if the customer needs one it must move from security defaults to Conditional Access."},
	50199: {Name: "CmsiInterrupt", Category: CategoryOther,
		Meaning:  "Entra asked the user to confirm the app they are signing in to, for security.",
		NextStep: "Confirm the prompt and continue; this is not a block."},
	70016: {Name: "AuthorizationPending", Category: CategoryOther,
		Meaning:  "The device code flow is waiting for the user to finish signing in in a browser.",
		NextStep: "Finish the sign-in at the device login page; note that customers often block the device code flow with an authentication flows policy."},
	50058: {Name: "UserInformationNotProvided", Category: CategoryOther,
		Meaning:  "There was no signed-in session to use for single sign-on.",
		NextStep: "Sign in interactively."},
}

// LookupCode returns what the table knows of code. It never fails: an unknown
// code gets CategoryOther, no name, and a generic meaning and next step, so
// renderers need no special case.
func LookupCode(code int) CodeInfo {
	if info, ok := codeTable[code]; ok {
		info.Code = code
		return info
	}
	return CodeInfo{
		Code:     code,
		Category: CategoryOther,
		Meaning:  fmt.Sprintf("Microsoft Entra returned AADSTS%d, which ca-check does not describe.", code),
		NextStep: fmt.Sprintf("Look the code up at https://login.microsoftonline.com/error?code=%d and the sign-in in the customer's sign-in log by its correlation ID.", code),
	}
}

// known reports whether the table describes code.
func known(code int) bool {
	_, ok := codeTable[code]
	return ok
}

// knownCodes returns every code the table describes, in ascending order.
func knownCodes() []int {
	codes := make([]int, 0, len(codeTable))
	for c := range codeTable {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	return codes
}
