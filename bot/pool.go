package bot

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// jobTimeout bounds one piece of work (a diagnosis reads a whole tenant's
// evidence and posts several messages).
const jobTimeout = 2 * time.Minute

// pool runs the slow half of every delivery on a fixed number of workers
// behind a bounded queue. Acks never wait for it: submit refuses instead of
// blocking when the queue is full, and the caller tells the user to retry.
type pool struct {
	m   *metrics
	log *slog.Logger

	mu     sync.RWMutex // guards closed against submit racing shutdown
	closed bool
	jobs   chan job
	wg     sync.WaitGroup
	// running counts jobs being worked on, to report what a timeout cut.
	running atomic.Int64

	// hard is cancelled when shutdown gives up waiting: jobs still running
	// see their context end.
	hard       context.Context
	cancelHard context.CancelFunc
}

type job struct {
	name string
	ctx  context.Context // carries the delivery's logger values, not its cancellation
	fn   func(ctx context.Context)
}

func newPool(workers, queue int, m *metrics, log *slog.Logger) *pool {
	p := &pool{m: m, log: log, jobs: make(chan job, queue)}
	p.hard, p.cancelHard = context.WithCancel(context.Background())
	for range workers {
		p.wg.Go(p.work)
	}
	return p
}

// submit queues fn under name. ctx supplies values (request ID) only: the
// job outlives the delivery that asked for it. It reports false when the
// queue is full or the pool is shutting down.
func (p *pool) submit(ctx context.Context, name string, fn func(ctx context.Context)) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return false
	}
	select {
	case p.jobs <- job{name: name, ctx: context.WithoutCancel(ctx), fn: fn}:
		p.m.queued.Inc()
		return true
	default:
		p.m.errors.WithLabelValues("queue_full").Inc()
		return false
	}
}

func (p *pool) work() {
	for j := range p.jobs {
		p.m.queued.Dec()
		p.run(j)
	}
}

func (p *pool) run(j job) {
	p.m.busy.Inc()
	p.running.Add(1)
	defer func() { p.m.busy.Dec(); p.running.Add(-1) }()
	ctx, cancel := context.WithTimeout(j.ctx, jobTimeout)
	defer cancel()
	stop := context.AfterFunc(p.hard, cancel)
	defer stop()
	defer func() {
		if v := recover(); v != nil {
			p.m.errors.WithLabelValues("panic").Inc()
			logger(ctx, p.log).Error("job panicked", "job", j.name, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
	}()
	j.fn(ctx)
}

// shutdown stops taking jobs, waits for the queued and running ones until
// ctx ends, then cancels the rest and waits for them to return. It reports
// how many jobs it had to cancel.
func (p *pool) shutdown(ctx context.Context) int {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.jobs)
	}
	p.mu.Unlock()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
		return 0
	case <-ctx.Done():
	}
	cut := len(p.jobs) + int(p.running.Load())
	p.cancelHard()
	<-done
	return max(cut, 1)
}
