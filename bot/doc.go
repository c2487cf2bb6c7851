// Package bot is ca-check's Slack adapter: the /ca-check slash command,
// AADSTS errors pasted into threads, the buttons on its answers, and the App
// Home. It turns Slack deliveries into calls on the diagnose engine (through
// a Diagnoser, which graphclient implements) and the answers into Block Kit.
//
// Slack reaches the bot in one of two ways, chosen by Config.Mode: Socket
// Mode (the bot dials out; socket.go) or signed HTTP requests (http.go).
// Both feed the same three entry points, which only parse and acknowledge
// within Slack's 3 seconds:
//
//	command.go       /ca-check <tenant | pasted error> and its verbs (one table)
//	events.go        message (and files.go: long pastes Slack made files),
//	                 file_shared, app_mention, app_home_opened
//	interactions.go  buttons and the customer picker
//
// Who may ask is decided first, on every path that reads or shows a
// customer (access.go): full members of the partner's own workspace (or
// Enterprise Grid organization), optionally of one user group, from
// Slack's signed payload and users.info, failing closed; and a channel
// linked to a customer answers only about that customer.
//
// The work itself (resolve the tenant, diagnose, save, post) runs on a
// bounded pool of workers (pool.go), so a slow Graph never delays an ack.
// The answer's path is answer.go → blocks.go → post.go; picker.go asks
// which customer when no tenant is known; home.go builds the App Home.
// Anything said to a person goes through EscapeMrkdwn or the
// diagnose renderers, and errors become Slack text in one place
// (errors.go).
//
// Approvals are the approval package's Service: the bot parses the
// clicks, says who clicks (from Slack's signed payload), calls the service
// and puts its answers and refusals into Slack words; it is the service's
// Notifier (approval_notify.go) and re-reads tenants for it.
//
// Fleet scans (scan.go, scan_blocks.go) run on the scan package's River
// queue; the bot starts them, is the queue's Notifier (the progress
// message, the digest with its CSV) and turns a digest's Request approval
// into a fresh diagnosis and a request.
//
// Deduplication uses the store's Claim: an Events API event ID (Slack
// redelivers), a message (seen both as message and app_mention), and an
// error per thread (a paste answered once however often it is pasted).
package bot
