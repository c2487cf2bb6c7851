// Package diagnose is ca-check's domain: it parses pasted sign-in errors,
// models the Conditional Access evidence read from a customer tenant (policies,
// named locations, sign-in log entries, cross-tenant settings), evaluates every
// policy against a service-provider sign-in from the partner's tenant, plans the
// minimal exclusion that unblocks the partner, and renders all of it for a
// terminal or for Slack.
//
// The package does no I/O. Adapters (graphclient, the Slack bot, the CLI) read
// the evidence and hand it here as the types below; everything they show a
// person comes from here, so that the CLI and the bot never disagree.
//
// The rules implemented here are the ones of docs/evaluation.md ("The scenario",
// "Rules", "The fix"); a change to one is a change to the other.
package diagnose
