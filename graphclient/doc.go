// Package graphclient reads customer tenants (and the partner's own) through
// Microsoft Graph, and writes the one change ca-check makes: excluding the
// partner's service provider users from a Conditional Access policy. It is
// the only package that imports the Graph SDK; everything it hands out is a
// diagnose type, so the bot and the CLI never see an SDK model.
//
// # Access
//
// One multi-tenant app registration in the partner tenant, consented in each
// customer tenant, reads with app-only tokens (azidentity: client secret,
// certificate, workload identity federation from a token file, or a managed
// identity as the app's federated credential). The Client keeps one
// credential and one Graph request adapter per tenant; azidentity caches the
// tokens. A verified domain works as the tenant: Entra accepts it in the
// authority, and the token's tid claim tells the tenant ID, so no round trip
// resolves it first.
//
// # Raw JSON, decoded by diagnose
//
// Every request is built by the SDK's request builders and sent through its
// request adapter (authentication, compression, telemetry headers, and our
// own retry middleware in place of kiota's: see retrier), but responses are taken as raw JSON and
// decoded by diagnose's decoders rather than into SDK models. The models
// parse enumerations into Go enums, and a value the SDK does not know turns
// the whole property into nil: a flags value such as
// "serviceProvider,someTypeAddedLater" in guestOrExternalUserTypes becomes
// nil, and a grant control Graph adds becomes a nil element. Evaluating
// from that would misjudge a policy; PATCHing it back (the users condition is
// written whole) would erase an exclusion. diagnose keeps enum values as the
// strings Graph sent. The same reasoning makes the PATCH body JSON rather
// than a model: diagnose.PatchBody, the users condition as Graph returned it
// (properties diagnose does not model included) with only
// excludeGuestsOrExternalUsers replaced, the body the guide shows; this also
// avoids the SDK's backing store sending {} for a model built from a read one. The What If request
// body is an SDK model: it carries only values we set.
//
// Every request carries "Prefer: include-unknown-enum-members". Without it
// Graph answers a member of an evolvable enum added after unknownFutureValue
// (linux among the device platforms, and whatever comes next) as
// unknownFutureValue, and hides sign-in results such as reportOnlyFailure.
//
// # Failures
//
// Errors are *diagnose.Error with a code and a sentence a support engineer
// can act on: the admin consent URL when the app is not consented, the
// missing permission by name, the missing Entra ID P1 licence for sign-in
// logs, throttling (with Graph's Retry-After when waiting would outlast the
// deadline), timeouts, and the host that could not be reached. Only a
// failure to read the policies fails a diagnosis; anything else that could
// not be read is listed in Evidence.Missing, and SignInPending tells when
// the sign-in log entry has not arrived yet.
//
// graphtest is a fake Graph and token endpoint to test against.
package graphclient
