// Package scan is the fleet scan: it evaluates every GDAP customer of the
// partner for the default scenario (a service provider user of the
// partner's tenant signing in), as `ca-check diagnose --tenant` does for
// one, and reports one entry per customer, never dropped, with a summary
// and what changed since the last scan.
//
// # The path
//
// List the customers (the partner side: its failure fails the scan), pick
// the targets, diagnose each tenant (Scanner.Tenant: one attempt, whose
// transient failures are retried with per-tenant backoff), collect the
// results into a Report, compare it with the previous one (Compare), and
// deliver a digest (a Notifier). The CLI runs the tenants on a bounded pool
// in process (Scanner.Run); the bot runs each tenant as a durable River job
// over the store's database (Queue), so that a scan survives a replica that
// dies and a schedule runs once across replicas.
//
// # Graph's limits
//
// Limiter paces the scan's Graph requests at the HTTP layer, beneath the
// Graph SDK's retry: each tenant's Conditional Access reads (about one a
// second per tenant, shared with every other app there), the sign-in log
// (per tenant and across tenants), and a per-tenant backoff with jitter
// after a 429, which holds back that tenant alone. Its concurrency bound
// counts tenants with a request in flight: a tenant waiting for its limit or
// its backoff holds no slot, so it does not stall the others.
//
// The package imports neither slack-go nor the Graph SDK: it declares the
// small interfaces it needs (Lister, Diagnoser, Store, Notifier), which
// graphclient, bot/store and the Slack layer implement.
package scan
