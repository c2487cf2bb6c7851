package scan

import (
	"strings"
	"testing"
	"time"

	"github.com/cacheck/ca-check/diagnose"
)

func TestParseSchedule(t *testing.T) {
	at := time.Date(2026, 3, 6, 7, 20, 0, 0, time.FixedZone("CET", 3600)) // a Friday, 06:20 UTC
	tests := []struct {
		in      string
		next    time.Time
		wantErr string
	}{
		{in: "", next: time.Time{}},
		{in: "24h", next: time.Date(2026, 3, 7, 0, 0, 0, 0, time.UTC)},
		{in: "6h", next: time.Date(2026, 3, 6, 12, 0, 0, 0, time.UTC)},
		{in: "0 6 * * 1-5", next: time.Date(2026, 3, 9, 6, 0, 0, 0, time.UTC)},
		{in: "30 6 * * *", next: time.Date(2026, 3, 6, 6, 30, 0, 0, time.UTC)},
		{in: "@daily", next: time.Date(2026, 3, 7, 0, 0, 0, 0, time.UTC)},
		{in: "1m", wantErr: "at most every 15m0s"},
		{in: "every day", wantErr: "neither an interval"},
		{in: "61 * * * *", wantErr: "neither an interval"},
	}
	for _, tt := range tests {
		s, err := ParseSchedule(tt.in)
		if tt.wantErr != "" {
			if diagnose.ErrorCode(err) != diagnose.EINVALID || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "CACHECK_SCAN_SCHEDULE") {
				t.Errorf("%q: %v, want EINVALID naming the variable with %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if s == nil {
			if !tt.next.IsZero() {
				t.Errorf("%q: no schedule", tt.in)
			}
			continue
		}
		if got := s.Next(at); !got.Equal(tt.next) {
			t.Errorf("%q: next after %v is %v, want %v", tt.in, at.UTC(), got.UTC(), tt.next)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tt := range []struct {
		c       Config
		wantErr string
	}{
		{Config{}, ""},
		{Config{Schedule: "24h", Channel: "C0SCANS"}, ""},
		{Config{Schedule: "24h"}, "CACHECK_SCAN_CHANNEL is not"},
		{Config{Schedule: "24h", Channel: "#scans"}, "not a Slack channel ID"},
		{Config{Schedule: "soon", Channel: "C0SCANS"}, "CACHECK_SCAN_SCHEDULE"},
	} {
		err := tt.c.Validate()
		if (tt.wantErr == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%+v: %v, want %q", tt.c, err, tt.wantErr)
		}
	}
}
