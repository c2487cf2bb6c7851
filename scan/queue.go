package scan

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/cacheck/ca-check/bot/store"
	"github.com/cacheck/ca-check/diagnose"
)

// Store is what the River-backed scan keeps; *store.Store implements it.
type Store interface {
	CreateScan(ctx context.Context, r store.ScanRecord) error
	StartScan(ctx context.Context, id string, total int) error
	SaveScanResult(ctx context.Context, r store.ScanResult) (stored bool, done int, err error)
	EndScan(ctx context.Context, id, state string, summary []byte, reason string, now time.Time) (bool, error)
	MarkDigestSent(ctx context.Context, id string, now time.Time) (bool, error)
	Scan(ctx context.Context, id string) (store.ScanRecord, error)
	LastFullScan(ctx context.Context, before time.Time) (store.ScanRecord, error)
	ScanResults(ctx context.Context, scanID string) ([]store.ScanResult, error)
}

// Notifier tells people about scans; the Slack layer implements it.
// Every call may come from any replica.
type Notifier interface {
	// Progress says that done of total tenants are finished. It is called
	// after each tenant, so an implementation updates one message at the
	// pace its channel allows and skips the rest; an error is logged.
	Progress(ctx context.Context, s ScanInfo, done, total int) error
	// Digest delivers a scan's result. It is called once per scan; only
	// when a replica dies between delivering and recording it is it
	// called again, so an implementation that can tell (by ScanInfo.ID)
	// should. An error is retried with backoff.
	Digest(ctx context.Context, d Digest) error
}

// ScanInfo is who asked for a scan and where its news go.
type ScanInfo struct {
	ID          string
	RequestedBy string // a Slack user ID, or ScheduledBy
	ChannelID   string
	Full        bool // every active customer: compared with the previous full scan
}

// ScheduledBy is ScanInfo.RequestedBy for the schedule's scans.
const ScheduledBy = "schedule"

// Digest is a finished (or failed) scan.
type Digest struct {
	Scan ScanInfo
	// Report is the result; nil when the scan failed.
	Report *Report
	// Changes is what changed since the previous full scan; nil for a
	// partial scan or the first full one.
	Changes *Changes
	// Error is why the scan failed: the partner's customers could not be
	// listed.
	Error string
}

// Request is a scan asked for (the Slack command, the schedule).
type Request struct {
	RequestedBy string
	ChannelID   string
	// Tenants limits the scan (IDs, names, domains); empty is a full scan.
	Tenants []string
	SignIns bool
}

// QueueConfig configures a Queue.
type QueueConfig struct {
	Scanner  *Scanner
	Store    Store
	Notifier Notifier
	// Workers is how many tenant jobs this replica runs at once (default
	// 2 × the Scanner's Limiter concurrency, or 8).
	Workers int
	// Schedule, when set, starts a full scan on it, from one replica (the
	// River leader), with its digest to Channel.
	Schedule Schedule
	Channel  string
	// JobTimeout bounds one attempt at a job (default 3 minutes), and
	// RescueAfter is how long a job may run before it is taken for one
	// whose replica died, and run again (default JobTimeout + 2 minutes).
	JobTimeout  time.Duration
	RescueAfter time.Duration
	// PollInterval is how often an idle replica looks for jobs without
	// being told (default 1 s; SQLite has no notifications).
	PollInterval time.Duration
	Logger       *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// tenantAttempts is how many attempts a tenant's job makes before its
// entry keeps the error. River may run a job more often (a replica that
// died mid-job costs an attempt): maxJobAttempts leaves room for that, so
// that no tenant is ever discarded without an entry.
const (
	tenantAttempts = DefaultAttempts
	maxJobAttempts = 25
	queueName      = "cacheck_scan"
)

// Queue runs scans as River jobs over the store's database: a listing job
// per scan, one job per tenant (unique per scan), and a finishing job
// (unique per scan) that delivers the digest once the last tenant is in.
type Queue struct {
	client   riverClient
	store    Store
	scanner  *Scanner
	notifier Notifier
	log      *slog.Logger
	now      func() time.Time
	close    func()
}

// riverClient is the part of *river.Client[TTx] a Queue uses, free of the
// driver's transaction type.
type riverClient interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	InsertMany(ctx context.Context, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error)
}

// OpenQueue runs River's migrations in st's database, under the same lock
// as the store's own (so that replicas starting together migrate once),
// and returns a Queue over it: SQLite through st's connection, PostgreSQL
// through a pgx pool of its own to the same database (dsn, the store's),
// for River's notifications. Start it to work.
func OpenQueue(ctx context.Context, st *store.Store, dsn string, cfg QueueConfig) (*Queue, error) {
	if st.Postgres() {
		pool, err := pgxpool.New(ctx, dsn)
		if err != nil {
			return nil, fmt.Errorf("scan: open the job queue's PostgreSQL pool: %w", err)
		}
		d := riverpgxv5.New(pool)
		err = migratePostgres(ctx, pool, d)
		if err == nil {
			var q *Queue
			q, err = newQueue(d, cfg)
			if err == nil {
				q.close = pool.Close
				return q, nil
			}
		}
		pool.Close()
		return nil, err
	}
	d := riversqlite.New(st.DB())
	if err := migrateSQLite(ctx, st.DB(), d); err != nil {
		return nil, err
	}
	return newQueue(d, cfg)
}

func migratePostgres(ctx context.Context, pool *pgxpool.Pool, d *riverpgxv5.Driver) error {
	m, err := rivermigrate.New(d, nil)
	if err != nil {
		return fmt.Errorf("scan: River migrations: %w", err)
	}
	// River's migrations cannot share one transaction (one adds an enum
	// value and uses it), so the store's migration lock
	// (bot/store/dialect.go) is held by a session around them.
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("scan: River migrations: %w", err)
	}
	defer conn.Release()
	const key = `hashtext('ca-check schema_migrations ' || current_schema())`
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(`+key+`)`); err != nil {
		return fmt.Errorf("scan: lock migrations: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(`+key+`)`)
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("scan: River migrations: %w", err)
	}
	return nil
}

func migrateSQLite(ctx context.Context, db *sql.DB, d *riversqlite.Driver) error {
	m, err := rivermigrate.New(d, nil)
	if err != nil {
		return fmt.Errorf("scan: River migrations: %w", err)
	}
	// The store's writer begins immediate transactions: this one holds
	// SQLite's write lock, as the store's migrations do.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("scan: River migrations: %w", err)
	}
	if _, err := m.MigrateTx(ctx, tx, rivermigrate.DirectionUp, nil); err != nil {
		tx.Rollback()
		return fmt.Errorf("scan: River migrations: %w", err)
	}
	return tx.Commit()
}

func newQueue[TTx any](d riverdriver.Driver[TTx], cfg QueueConfig) (*Queue, error) {
	q := &Queue{store: cfg.Store, scanner: cfg.Scanner, notifier: cfg.Notifier, log: cfg.Logger, now: cfg.Now, close: func() {}}
	if q.log == nil {
		q.log = slog.New(slog.DiscardHandler)
	}
	if q.now == nil {
		q.now = time.Now
	}
	workers := cfg.Workers
	if workers <= 0 {
		workers = 8
		if cfg.Scanner != nil && cfg.Scanner.Limiter != nil {
			workers = 2 * cfg.Scanner.Limiter.Limits().Concurrency
		}
	}
	jobTimeout := cfg.JobTimeout
	if jobTimeout <= 0 {
		jobTimeout = 3 * time.Minute
	}
	rescue := cfg.RescueAfter
	if rescue <= jobTimeout {
		rescue = jobTimeout + 2*time.Minute
	}
	ws := river.NewWorkers()
	river.AddWorker(ws, &listWorker{q: q})
	river.AddWorker(ws, &tenantWorker{q: q})
	river.AddWorker(ws, &finishWorker{q: q})
	rc := &river.Config{
		Queues:               map[string]river.QueueConfig{queueName: {MaxWorkers: workers}},
		Workers:              ws,
		JobTimeout:           jobTimeout,
		RescueStuckJobsAfter: rescue,
		FetchPollInterval:    cfg.PollInterval,
		RetryPolicy:          retryPolicy{cfg.Scanner},
		Logger:               q.log,
		MaxAttempts:          maxJobAttempts,
	}
	if cfg.PollInterval > 0 && cfg.PollInterval < river.FetchCooldownDefault {
		rc.FetchCooldown = cfg.PollInterval
	}
	if cfg.Schedule != nil {
		channel := cfg.Channel
		river.AddWorker(ws, &scheduleWorker{q: q, channel: channel})
		rc.PeriodicJobs = []*river.PeriodicJob{river.NewPeriodicJob(cfg.Schedule,
			func() (river.JobArgs, *river.InsertOpts) { return scheduleArgs{}, nil },
			&river.PeriodicJobOpts{ID: "cacheck_scan_schedule"})}
	}
	client, err := river.NewClient(d, rc)
	if err != nil {
		return nil, fmt.Errorf("scan: job queue: %w", err)
	}
	q.client = client
	return q, nil
}

// Start starts working jobs (and the schedule, on the replica River elects
// leader); Stop lets the running jobs finish, within ctx.
func (q *Queue) Start(ctx context.Context) error { return q.client.Start(ctx) }

// Stop stops the Queue and closes what OpenQueue opened.
func (q *Queue) Stop(ctx context.Context) error {
	err := q.client.Stop(ctx)
	q.close()
	return err
}

// Request starts a scan and returns its ID; its progress and digest go to
// the Notifier.
func (q *Queue) Request(ctx context.Context, r Request) (string, error) {
	id, err := newScanID()
	if err != nil {
		return "", err
	}
	return id, q.start(ctx, id, r)
}

// start stores scan id for r and queues its listing job. A scan stored
// already (a retried schedule job whose first attempt stored it and then
// failed to queue) is queued as it is: the listing job is unique per scan.
func (q *Queue) start(ctx context.Context, id string, r Request) error {
	opts, err := json.Marshal(scanOptions{Tenants: r.Tenants, SignIns: r.SignIns})
	if err != nil {
		return err
	}
	err = q.store.CreateScan(ctx, store.ScanRecord{ID: id, RequestedBy: r.RequestedBy, ChannelID: r.ChannelID,
		Full: len(r.Tenants) == 0, Options: opts, CreatedAt: q.now()})
	if err != nil && !errors.Is(err, store.ErrConflict) {
		return err
	}
	if _, err := q.client.Insert(ctx, listArgs{ScanID: id}, nil); err != nil {
		return fmt.Errorf("scan: queue the scan: %w", err)
	}
	return nil
}

type scanOptions struct {
	Tenants []string `json:"tenants,omitempty"`
	SignIns bool     `json:"signIns,omitempty"`
}

func newScanID() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "scan-" + hex.EncodeToString(b[:]), nil
}

// retryPolicy retries a job as the Scanner retries a tenant.
type retryPolicy struct{ s *Scanner }

func (p retryPolicy) NextRetry(job *rivertype.JobRow) time.Time {
	return time.Now().Add(p.s.retryWait(job.Attempt))
}

// The jobs. Their kinds are stored in the database: never rename them.
type (
	listArgs struct {
		ScanID string `json:"scanId" river:"unique"`
	}
	tenantArgs struct {
		ScanID   string `json:"scanId" river:"unique"`
		TenantID string `json:"tenantId" river:"unique"`
		Target   Target `json:"target"`
		SignIns  bool   `json:"signIns,omitempty"`
	}
	finishArgs struct {
		ScanID string `json:"scanId" river:"unique"`
	}
	scheduleArgs struct{}
)

func (listArgs) Kind() string     { return "cacheck_scan_list" }
func (tenantArgs) Kind() string   { return "cacheck_scan_tenant" }
func (finishArgs) Kind() string   { return "cacheck_scan_finish" }
func (scheduleArgs) Kind() string { return "cacheck_scan_schedule" }

// Each scan's jobs are unique by scan (and tenant): a listing that runs
// twice queues each tenant once, and the replicas that finish a scan's last
// tenants at once queue one finishing job.
func (listArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queueName, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}
func (tenantArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queueName, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}
func (finishArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queueName, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}
func (scheduleArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: queueName} }

func (q *Queue) info(r store.ScanRecord) ScanInfo {
	return ScanInfo{ID: r.ID, RequestedBy: r.RequestedBy, ChannelID: r.ChannelID, Full: r.Full}
}

// listWorker lists the partner's customers and queues a job per tenant.
type listWorker struct {
	river.WorkerDefaults[listArgs]
	q *Queue
}

func (w *listWorker) Work(ctx context.Context, job *river.Job[listArgs]) error {
	q := w.q
	rec, err := q.store.Scan(ctx, job.Args.ScanID)
	if err != nil {
		return err
	}
	if rec.State != store.ScanListing && rec.State != store.ScanRunning {
		return nil
	}
	var opts scanOptions
	if len(rec.Options) > 0 {
		if err := json.Unmarshal(rec.Options, &opts); err != nil {
			return river.JobCancel(fmt.Errorf("scan %s: options: %w", rec.ID, err))
		}
	}
	now := q.now()
	rels, err := q.scanner.Graph.Customers(ctx)
	var targets []Target
	if err == nil {
		targets, err = Targets(ctx, rels, opts.Tenants, q.scanner.Graph, now)
	}
	if err != nil {
		// The partner side: worth retrying while Graph is unavailable;
		// otherwise (or at last) the scan fails, and says why.
		if diagnose.ErrorCode(err) == diagnose.EUNAVAILABLE && job.Attempt < tenantAttempts {
			return err
		}
		if _, err := q.store.EndScan(ctx, rec.ID, store.ScanFailed, nil, diagnose.ErrorMessage(err), now); err != nil {
			return err
		}
		return q.queueFinish(ctx, rec.ID)
	}
	if err := q.store.StartScan(ctx, rec.ID, len(targets)); err != nil {
		return err
	}
	if len(targets) == 0 {
		return q.queueFinish(ctx, rec.ID)
	}
	params := make([]river.InsertManyParams, len(targets))
	for i, t := range targets {
		params[i] = river.InsertManyParams{Args: tenantArgs{ScanID: rec.ID, TenantID: t.Tenant.ID, Target: t, SignIns: opts.SignIns}}
	}
	if _, err := q.client.InsertMany(ctx, params); err != nil {
		return fmt.Errorf("scan %s: queue the tenants: %w", rec.ID, err)
	}
	return nil
}

func (q *Queue) queueFinish(ctx context.Context, scanID string) error {
	if _, err := q.client.Insert(ctx, finishArgs{ScanID: scanID}, nil); err != nil {
		return fmt.Errorf("scan %s: queue its digest: %w", scanID, err)
	}
	return nil
}

// tenantWorker scans one tenant, stores its entry, and queues the
// finishing job when the scan has every entry.
type tenantWorker struct {
	river.WorkerDefaults[tenantArgs]
	q *Queue
}

func (w *tenantWorker) Work(ctx context.Context, job *river.Job[tenantArgs]) (err error) {
	q, a := w.q, job.Args
	rec, err := q.store.Scan(ctx, a.ScanID)
	if err != nil {
		return err
	}
	if rec.State != store.ScanRunning {
		return nil // failed, or finished without it: nothing to add to
	}
	r, err := q.attempt(ctx, a, transientFailures(job.JobRow))
	if err != nil {
		return err
	}
	body, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, done, err := q.store.SaveScanResult(ctx, store.ScanResult{ScanID: a.ScanID, TenantID: a.TenantID, Verdict: string(r.Verdict), Result: body, FinishedAt: q.now()})
	if err != nil {
		return err
	}
	if q.notifier != nil {
		if err := q.notifier.Progress(ctx, q.info(rec), done, rec.Total); err != nil {
			q.log.WarnContext(ctx, "scan progress not delivered", "scan", a.ScanID, "error", err)
		}
	}
	if done >= rec.Total {
		return q.queueFinish(ctx, a.ScanID)
	}
	return nil
}

// attempt runs the tenant once, after failures transient failures. A
// transient failure is returned, for River to retry, until the tenant's
// attempts are spent; then the entry keeps the error. A panic is kept as the entry's error too, so that a tenant that
// crashes the scanner is reported, not lost.
func (q *Queue) attempt(ctx context.Context, a tenantArgs, failures int) (r TenantResult, err error) {
	defer func() {
		if p := recover(); p != nil {
			q.log.ErrorContext(ctx, "scan: tenant panicked", "scan", a.ScanID, "tenant", a.TenantID, "panic", fmt.Sprint(p))
			r, err = FromError(a.Target, diagnose.Errorf(diagnose.EINTERNAL, "internal error while scanning tenant %s", a.TenantID), q.now()), nil
		}
	}()
	r, err = q.scanner.Tenant(ctx, a.Target, a.SignIns)
	if err != nil && errors.Is(err, ErrTransient) && failures+1 < tenantAttempts {
		return r, err
	}
	if err != nil && ctx.Err() != nil {
		return r, err // cancelled or timed out: not an answer
	}
	return r, nil
}

// transientFailures counts the job's attempts that Graph failed, not
// those cut short by a replica that died (River records those as rescued).
func transientFailures(job *rivertype.JobRow) int {
	n := 0
	for _, e := range job.Errors {
		if strings.HasPrefix(e.Error, ErrTransient.Error()) {
			n++
		}
	}
	return n
}

// finishWorker ends the scan and delivers its digest.
type finishWorker struct {
	river.WorkerDefaults[finishArgs]
	q *Queue
}

func (w *finishWorker) Work(ctx context.Context, job *river.Job[finishArgs]) error {
	q := w.q
	rec, err := q.store.Scan(ctx, job.Args.ScanID)
	if err != nil {
		return err
	}
	if !rec.DigestSentAt.IsZero() {
		return nil
	}
	d := Digest{Scan: q.info(rec), Error: rec.Error}
	if rec.State != store.ScanFailed {
		rep, err := q.report(ctx, rec)
		if err != nil {
			return err
		}
		if len(rep.Tenants) < rec.Total {
			// Queued early (cannot be, but a digest without every tenant
			// would break the promise): come back later.
			return river.JobSnooze(10 * time.Second)
		}
		summary, _ := json.Marshal(rep.Summary)
		if _, err := q.store.EndScan(ctx, rec.ID, store.ScanFinished, summary, "", q.now()); err != nil {
			return err
		}
		d.Report = rep
		if rec.Full {
			prev, err := q.store.LastFullScan(ctx, rec.CreatedAt)
			switch {
			case errors.Is(err, store.ErrNotFound):
			case err != nil:
				return err
			default:
				old, err := q.report(ctx, prev)
				if err != nil {
					return err
				}
				c := Compare(old, rep, q.now())
				d.Changes = &c
			}
		}
	}
	if q.notifier != nil {
		if err := q.notifier.Digest(ctx, d); err != nil {
			return fmt.Errorf("scan %s: digest: %w", rec.ID, err)
		}
	}
	_, err = q.store.MarkDigestSent(ctx, rec.ID, q.now())
	return err
}

// report rebuilds a scan's report from its stored entries.
func (q *Queue) report(ctx context.Context, rec store.ScanRecord) (*Report, error) {
	rows, err := q.store.ScanResults(ctx, rec.ID)
	if err != nil {
		return nil, err
	}
	results := make([]TenantResult, 0, len(rows))
	for _, row := range rows {
		var r TenantResult
		if err := json.Unmarshal(row.Result, &r); err != nil {
			return nil, fmt.Errorf("scan %s: tenant %s's entry: %w", rec.ID, row.TenantID, err)
		}
		results = append(results, r)
	}
	return NewReport(q.scanner.Graph.PartnerTenantID(), rec.CreatedAt, results), nil
}

// scheduleWorker starts the scheduled full scan.
type scheduleWorker struct {
	river.WorkerDefaults[scheduleArgs]
	q       *Queue
	channel string
}

// Work starts the period's scan. Its ID comes from the job's, so that a
// retry of this job (its first attempt failed after storing the scan)
// starts the same scan, never a second one.
func (w *scheduleWorker) Work(ctx context.Context, job *river.Job[scheduleArgs]) error {
	return w.q.start(ctx, fmt.Sprintf("scan-schedule-%d", job.ID), Request{RequestedBy: ScheduledBy, ChannelID: w.channel})
}
