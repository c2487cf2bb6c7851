package scan

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cacheck/ca-check/bot/store"
	"github.com/cacheck/ca-check/diagnose"
	"github.com/cacheck/ca-check/internal/testsupport"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// fleetGraph is a fake Graph of n customers, the same in every process
// that builds it: every 7th blocked, every 11th not consented, every 13th
// always throttled, every 5th throttled once (in each process) before it
// answers.
func fleetGraph(n int, delay time.Duration) (*fakeGraph, map[string]string) {
	g := &fakeGraph{delay: delay, verdicts: map[string]*diagnose.Diagnosis{}, fails: map[string][]error{}}
	want := map[string]string{}
	for i := range n {
		id := fmt.Sprintf("f0000000-0000-4000-8000-%012d", i)
		g.rels = append(g.rels, rel(fmt.Sprint("r", i), id, fmt.Sprintf("Customer %03d", i), "active", time.Now().Add(400*24*time.Hour)))
		want[id] = string(diagnose.VerdictNotBlocked)
		switch {
		case i%11 == 0:
			g.fails[id] = []error{diagnose.Errorf(diagnose.EUNAUTHORIZED, "ca-check is not consented in tenant %s", id)}
			want[id] = "error"
		case i%13 == 0:
			for range 5 {
				g.fails[id] = append(g.fails[id], diagnose.Errorf(diagnose.EUNAVAILABLE, "Microsoft Graph is throttling ca-check in tenant %s (still 429 after 3 retries)", id))
			}
			want[id] = "error"
		case i%7 == 0:
			g.verdicts[id] = blockingDiagnosis(diagnose.PolicyResult{ID: "p" + id, DisplayName: "Block", Effect: diagnose.EffectBlocks})
			want[id] = string(diagnose.VerdictLikelyBlocked)
		}
		if i%5 == 0 && i%11 != 0 && i%13 != 0 {
			g.fails[id] = []error{diagnose.Errorf(diagnose.EUNAVAILABLE, "throttled")}
		}
	}
	return g, want
}

// recorder is a Notifier that keeps what it is told, and writes each
// digest to a file of dir when dir is set (for the digests of another
// process).
type recorder struct {
	dir string

	mu       sync.Mutex
	digests  []Digest
	progress int
}

func (r *recorder) Progress(_ context.Context, _ ScanInfo, done, total int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.progress++
	return nil
}

func (r *recorder) Digest(_ context.Context, d Digest) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.digests = append(r.digests, d)
	if r.dir != "" {
		b, _ := json.Marshal(d)
		return os.WriteFile(filepath.Join(r.dir, fmt.Sprintf("digest-%d-%d.json", os.Getpid(), len(r.digests))), b, 0o644)
	}
	return nil
}

func (r *recorder) wait(t *testing.T, n int, within time.Duration) []Digest {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		got := len(r.digests)
		r.mu.Unlock()
		if got >= n {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Digest(nil), r.digests...)
}

func openQueue(t *testing.T, dsn string, g Graph, n Notifier) (*Queue, *store.Store) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	q, err := OpenQueue(ctx, st, dsn, QueueConfig{
		Scanner: &Scanner{Graph: g, Attempts: tenantAttempts, Retry: func(int) time.Duration { return 10 * time.Millisecond }}, Store: st, Notifier: n, Workers: 4,
		PollInterval: 50 * time.Millisecond, JobTimeout: 2 * time.Second, RescueAfter: 4 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return q, st
}

// checkDigest asserts one entry per tenant of want, each as it must be.
func checkDigest(t *testing.T, d Digest, want map[string]string) {
	t.Helper()
	if d.Report == nil {
		t.Fatalf("digest without a report: %+v", d)
	}
	seen := map[string]int{}
	for _, r := range d.Report.Tenants {
		seen[r.Tenant.ID]++
		got := string(r.Verdict)
		if r.Error != "" {
			got = "error"
		}
		if got != want[r.Tenant.ID] {
			t.Errorf("%s: %s (%s), want %s", r.Tenant.ID, got, r.Error, want[r.Tenant.ID])
		}
	}
	for id := range want {
		if seen[id] != 1 {
			t.Errorf("%s is in the digest %d times", id, seen[id])
		}
	}
	if len(d.Report.Tenants) != len(want) || d.Report.Summary.Total() != len(want) {
		t.Errorf("%d entries, summary of %d, want %d", len(d.Report.Tenants), d.Report.Summary.Total(), len(want))
	}
}

func TestQueueSQLite(t *testing.T) {
	testQueue(t, filepath.Join(t.TempDir(), "ca-check.db"))
}

func TestQueuePostgres(t *testing.T) {
	testQueue(t, testsupport.PostgresDSN(t))
}

// A scan through River: every tenant once in one digest (throttled ones
// retried), then a second full scan's digest says what changed.
func testQueue(t *testing.T, dsn string) {
	g, want := fleetGraph(40, 5*time.Millisecond)
	rec := &recorder{}
	q, st := openQueue(t, dsn, g, rec)
	ctx := context.Background()
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Stop(context.Background()) })
	id, err := q.Request(ctx, Request{RequestedBy: "U1", ChannelID: "C1"})
	if err != nil {
		t.Fatal(err)
	}
	ds := rec.wait(t, 1, 30*time.Second)
	if len(ds) != 1 {
		t.Fatalf("%d digests", len(ds))
	}
	checkDigest(t, ds[0], want)
	if ds[0].Scan.ID != id || ds[0].Scan.ChannelID != "C1" || !ds[0].Scan.Full || ds[0].Changes != nil {
		t.Errorf("digest of %+v with changes %+v", ds[0].Scan, ds[0].Changes)
	}
	if s, err := st.Scan(ctx, id); err != nil || s.State != store.ScanFinished || s.DigestSentAt.IsZero() || s.Total != 40 {
		t.Errorf("scan row %+v %v", s, err)
	}
	if rec.progress != 40 {
		t.Errorf("%d progress calls, want 40", rec.progress)
	}

	// Customer 1 starts blocking; customer 7 is fixed; customer 39 is lost.
	g.mu.Lock()
	g.calls = nil
	g.verdicts["f0000000-0000-4000-8000-000000000001"] = blockingDiagnosis(diagnose.PolicyResult{ID: "new", DisplayName: "New block", Effect: diagnose.EffectBlocks})
	delete(g.verdicts, "f0000000-0000-4000-8000-000000000007")
	g.rels = g.rels[:39]
	g.mu.Unlock()
	if _, err := q.Request(ctx, Request{RequestedBy: ScheduledBy, ChannelID: "C2"}); err != nil {
		t.Fatal(err)
	}
	ds = rec.wait(t, 2, 30*time.Second)
	if len(ds) != 2 || ds[1].Changes == nil {
		t.Fatalf("%d digests, the second with changes %v", len(ds), ds[len(ds)-1].Changes)
	}
	c := ds[1].Changes
	if len(c.NewlyBlocking) != 1 || c.NewlyBlocking[0].Policy.ID != "new" || len(c.Fixed) != 1 || c.Fixed[0].ID != "f0000000-0000-4000-8000-000000000007" ||
		len(c.LostCustomers) != 1 || c.LostCustomers[0].Tenant.ID != "f0000000-0000-4000-8000-000000000039" {
		t.Errorf("changes %+v", c)
	}
}

// The partner side failing fails the scan, and its digest says why.
func TestQueuePartnerFails(t *testing.T) {
	g := &fakeGraph{listErr: diagnose.Errorf(diagnose.EUNAUTHORIZED, "ca-check lacks the DelegatedAdminRelationship.Read.All application permission")}
	rec := &recorder{}
	q, st := openQueue(t, filepath.Join(t.TempDir(), "ca-check.db"), g, rec)
	ctx := context.Background()
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer q.Stop(ctx)
	id, err := q.Request(ctx, Request{RequestedBy: "U1", ChannelID: "C1", Tenants: []string{"x"}})
	if err != nil {
		t.Fatal(err)
	}
	ds := rec.wait(t, 1, 20*time.Second)
	if len(ds) != 1 || ds[0].Report != nil || ds[0].Error == "" || ds[0].Scan.Full {
		t.Fatalf("digests %+v", ds)
	}
	if s, _ := st.Scan(ctx, id); s.State != store.ScanFailed {
		t.Errorf("scan state %s", s.State)
	}
}

// Two replicas on one PostgreSQL; one is killed (SIGKILL) halfway through
// a scan: the other finishes it, with every tenant in the one digest once.
func TestQueueReplicaKilled(t *testing.T) {
	if os.Getenv("SCAN_TEST_REPLICA") != "" {
		t.Skip("runs as the replica of TestQueueReplicaKilled")
	}
	dsn := testsupport.PostgresDSN(t)
	const n = 60
	g, want := fleetGraph(n, 300*time.Millisecond)
	dir := t.TempDir()
	rec := &recorder{dir: dir}
	q, st := openQueue(t, dsn, g, rec)
	ctx := context.Background()

	// The other replica: this test binary, running replicaMain.
	other := exec.Command(os.Args[0], "-test.run=^TestQueueReplica$", "-test.v")
	other.Env = append(os.Environ(), "SCAN_TEST_REPLICA="+dsn, "SCAN_TEST_REPLICA_DIR="+dir, "SCAN_TEST_REPLICA_N="+strconv.Itoa(n))
	logs, _ := os.Create(filepath.Join(dir, "replica.log"))
	other.Stdout, other.Stderr = logs, logs
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			other.Process.Kill()
		}
		other.Wait()
	})
	// Wait for the replica to be up before asking, so that both work.
	waitFile(t, filepath.Join(dir, "ready"), 30*time.Second)
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Stop(context.Background()) })
	id, err := q.Request(ctx, Request{RequestedBy: "U1", ChannelID: "C1"})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		rows, err := st.ScanResults(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) >= n/2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d tenants after 30 s", len(rows), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := other.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed = true
	ds := rec.wait(t, 1, 3*time.Minute)
	time.Sleep(time.Second) // a second digest would show by now
	files, _ := filepath.Glob(filepath.Join(dir, "digest-*.json"))
	if len(ds) != 1 || len(files) != 1 {
		b, _ := os.ReadFile(filepath.Join(dir, "replica.log"))
		t.Fatalf("%d digests here, %d digest files in all, want 1\nreplica log:\n%s", len(ds), len(files), b)
	}
	checkDigest(t, ds[0], want)
	if s, _ := st.Scan(ctx, id); s.State != store.ScanFinished || s.DigestSentAt.IsZero() {
		t.Errorf("scan row %+v", s)
	}
	g.mu.Lock()
	worked := len(g.calls)
	g.mu.Unlock()
	if worked == n {
		t.Errorf("this replica scanned every tenant: the other did no work")
	}
}

// TestQueueReplica is the replica TestQueueReplicaKilled starts in a
// process of its own and kills.
func TestQueueReplica(t *testing.T) {
	dsn := os.Getenv("SCAN_TEST_REPLICA")
	if dsn == "" {
		t.Skip("started by TestQueueReplicaKilled")
	}
	n, _ := strconv.Atoi(os.Getenv("SCAN_TEST_REPLICA_N"))
	dir := os.Getenv("SCAN_TEST_REPLICA_DIR")
	g, _ := fleetGraph(n, 300*time.Millisecond)
	q, _ := openQueue(t, dsn, g, &recorder{dir: dir})
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "ready"), nil, 0o644)
	select {} // until killed
}

func waitFile(t *testing.T, path string, within time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
	}
	t.Fatalf("%s did not appear within %v", path, within)
}

// every is a schedule with a short period, for tests.
type every time.Duration

func (d every) Next(t time.Time) time.Time { return t.Truncate(time.Duration(d)).Add(time.Duration(d)) }

// The schedule starts full scans from one replica of two: each period's
// scan once, its digest to the configured channel.
func TestQueueSchedule(t *testing.T) {
	dsn := testsupport.PostgresDSN(t)
	g, want := fleetGraph(5, 0)
	g.fails = nil // the same answers scan after scan
	for id, w := range want {
		if w == "error" {
			want[id] = string(diagnose.VerdictNotBlocked)
		}
	}
	rec := &recorder{}
	ctx := context.Background()
	for range 2 {
		st, err := store.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		q, err := OpenQueue(ctx, st, dsn, QueueConfig{
			Scanner: &Scanner{Graph: g, Retry: func(int) time.Duration { return time.Millisecond }}, Store: st, Notifier: rec,
			Schedule: every(2 * time.Second), Channel: "C0SCANS", PollInterval: 50 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { q.Stop(context.Background()) })
	}
	ds := rec.wait(t, 3, 30*time.Second)
	if len(ds) < 3 {
		t.Fatalf("%d scheduled digests in 30 s", len(ds))
	}
	seen := map[string]bool{}
	var times []time.Time
	for _, d := range ds[:3] {
		if d.Scan.RequestedBy != ScheduledBy || d.Scan.ChannelID != "C0SCANS" || !d.Scan.Full || seen[d.Scan.ID] {
			t.Errorf("digest of %+v", d.Scan)
		}
		seen[d.Scan.ID] = true
		checkDigest(t, d, want)
		times = append(times, d.Report.ScannedAt)
	}
	for i := 1; i < len(times); i++ {
		if gap := times[i].Sub(times[i-1]); gap < time.Second {
			t.Errorf("scheduled scans %v apart: one period ran twice", gap)
		}
	}
	if ds[1].Changes == nil || !ds[1].Changes.Empty() {
		t.Errorf("the second scheduled scan's changes: %+v, want none", ds[1].Changes)
	}
}

// A schedule job that runs again (its first attempt stored the scan, then
// failed, or its replica died) starts the period's scan once, not twice.
func TestScheduleRetryStartsOneScan(t *testing.T) {
	g, _ := fleetGraph(3, 0)
	q, st := openQueue(t, filepath.Join(t.TempDir(), "ca-check.db"), g, &recorder{})
	w := &scheduleWorker{q: q, channel: "C0DIGEST"}
	job := &river.Job[scheduleArgs]{JobRow: &rivertype.JobRow{ID: 42}}
	for range 2 {
		if err := w.Work(t.Context(), job); err != nil {
			t.Fatal(err)
		}
	}
	var scans, listings int
	if err := st.DB().QueryRow(`SELECT COUNT(*) FROM scans`).Scan(&scans); err != nil {
		t.Fatal(err)
	}
	if err := st.DB().QueryRow(`SELECT COUNT(*) FROM river_job WHERE kind = 'cacheck_scan_list'`).Scan(&listings); err != nil {
		t.Fatal(err)
	}
	if scans != 1 || listings != 1 {
		t.Errorf("%d scans and %d listing jobs for one schedule job run twice, want 1 and 1", scans, listings)
	}
	if s, err := st.Scan(t.Context(), "scan-schedule-42"); err != nil || s.RequestedBy != ScheduledBy || s.ChannelID != "C0DIGEST" || !s.Full {
		t.Errorf("the scheduled scan: %+v, %v", s, err)
	}
}
