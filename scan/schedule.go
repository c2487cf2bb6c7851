package scan

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/cacheck/ca-check/diagnose"
)

// Schedule says when the next scheduled scan is due: River's
// PeriodicSchedule.
type Schedule interface {
	Next(time.Time) time.Time
}

// MinInterval is the shortest schedule interval: a full scan reads every
// customer, and Graph's limits are shared with every other app there.
const MinInterval = 15 * time.Minute

// ParseSchedule reads CACHECK_SCAN_SCHEDULE: an interval ("24h", "6h30m";
// at least MinInterval) or a standard five-field cron expression in UTC
// ("0 6 * * 1-5": 06:00 on weekdays), or a descriptor such as "@daily". ""
// is no schedule (nil). Errors are EINVALID and name the variable.
func ParseSchedule(s string) (Schedule, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < MinInterval {
			return nil, diagnose.Errorf(diagnose.EINVALID, "CACHECK_SCAN_SCHEDULE %q: scan at most every %v", s, MinInterval)
		}
		return interval(d), nil
	}
	sched, err := cron.ParseStandard(s)
	if err != nil {
		return nil, diagnose.Errorf(diagnose.EINVALID, "CACHECK_SCAN_SCHEDULE %q is neither an interval such as 24h nor a cron expression such as \"0 6 * * 1-5\": %v", s, err)
	}
	return utc{sched}, nil
}

// interval is a schedule every d, aligned on multiples of d since the Unix
// epoch, so that every replica computes the same times.
type interval time.Duration

func (d interval) Next(t time.Time) time.Time {
	return t.Truncate(time.Duration(d)).Add(time.Duration(d))
}

// utc evaluates a cron schedule in UTC, whatever the machine's zone.
type utc struct{ s cron.Schedule }

func (u utc) Next(t time.Time) time.Time { return u.s.Next(t.UTC()) }

// Config is the scan's configuration, from the environment (envconfig,
// prefix CACHECK_).
type Config struct {
	Schedule string `envconfig:"SCAN_SCHEDULE" desc:"Run a full scan of every GDAP customer on a schedule, once across replicas: an interval (24h, at least 15m) or a cron expression in UTC (0 6 * * 1-5); empty for none."`
	Channel  string `envconfig:"SCAN_CHANNEL" desc:"The Slack channel ID (C…) that gets the scheduled scan's digest, led by what changed since the last one."`
}

// Validate reports what is wrong with c, in one error.
func (c Config) Validate() error {
	if _, err := ParseSchedule(c.Schedule); err != nil {
		return err
	}
	if c.Schedule != "" && c.Channel == "" {
		return diagnose.Errorf(diagnose.EINVALID, "CACHECK_SCAN_SCHEDULE is set but CACHECK_SCAN_CHANNEL is not: name the channel ID (C…) for the digest")
	}
	if c.Channel != "" && !isChannelID(c.Channel) {
		return diagnose.Errorf(diagnose.EINVALID, "CACHECK_SCAN_CHANNEL %q is not a Slack channel ID (C… or G…; copy it from the channel's details)", c.Channel)
	}
	return nil
}

func isChannelID(s string) bool {
	if len(s) < 3 || (s[0] != 'C' && s[0] != 'G') {
		return false
	}
	for _, r := range s[1:] {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

func (d interval) String() string { return fmt.Sprint(time.Duration(d)) }
