package bot

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the bot's Prometheus series. They live in the bot's own
// registry, never the global one, so that two bots in one test binary do not
// collide and /metrics shows only what this process registered.
type metrics struct {
	reg *prometheus.Registry

	commands    *prometheus.CounterVec   // kind
	diagnosis   *prometheus.HistogramVec // outcome
	ack         *prometheus.HistogramVec // delivery
	slackErrors *prometheus.CounterVec   // method, error
	dedup       *prometheus.CounterVec   // reason
	refusals    *prometheus.CounterVec   // path, reason
	errors      *prometheus.CounterVec   // kind
	requests    *prometheus.CounterVec   // handler, code
	queued      prometheus.Gauge
	busy        prometheus.Gauge
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		reg: reg,
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cacheck_slack_commands_total",
			Help: "Slash commands and thread pastes received, by kind (help, diagnose, paste, link, unlink, usage, mention, thread).",
		}, []string{"kind"}),
		diagnosis: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cacheck_diagnosis_duration_seconds",
			Help:    "Time to resolve a tenant and diagnose it, by outcome (ok, no_access, error).",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60},
		}, []string{"outcome"}),
		ack: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cacheck_slack_ack_duration_seconds",
			Help:    "Time from receiving a Slack delivery to acknowledging it, by delivery (command, event, interaction). Slack gives up after 3 s.",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 3},
		}, []string{"delivery"}),
		slackErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cacheck_slack_api_errors_total",
			Help: "Slack Web API calls that failed, by method and Slack error code.",
		}, []string{"method", "error"}),
		dedup: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cacheck_slack_events_deduplicated_total",
			Help: "Slack deliveries not answered because they were answered already, by reason (event: a redelivered event; message: the same message seen as message and app_mention; thread: the error was answered in the thread).",
		}, []string{"reason"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cacheck_refusals_total",
			Help: "Questions refused, by path (command, mention, paste, click, picker, home, audit) and reason (guest, external, bot, deactivated, not_in_group, unverified, no_user, linked_channel, not_approver).",
		}, []string{"path", "reason"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cacheck_errors_total",
			Help: "Failures by kind (store, signature, panic, queue_full, decode, diagnose).",
		}, []string{"kind"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cacheck_http_requests_total",
			Help: "HTTP requests from Slack by handler and status code.",
		}, []string{"handler", "code"}),
		queued: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cacheck_jobs_queued",
			Help: "Jobs waiting for a worker.",
		}),
		busy: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cacheck_jobs_running",
			Help: "Jobs being worked on.",
		}),
	}
	reg.MustRegister(m.commands, m.diagnosis, m.ack, m.slackErrors, m.dedup, m.refusals, m.errors, m.requests, m.queued, m.busy)
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

func (m *metrics) observeAck(delivery string, start time.Time) {
	m.ack.WithLabelValues(delivery).Observe(time.Since(start).Seconds())
}

// instrument counts responses by handler and status code.
func (m *metrics) instrument(name string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		m.requests.WithLabelValues(name, strconv.Itoa(sw.status())).Inc()
	})
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
