package scan

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"
	"time"
)

// csvHeader names the CSV columns; the order is part of the contract.
var csvHeader = []string{"tenant_id", "tenant_name", "default_domain", "verdict", "error",
	"blocking_count", "blocking_policies", "blocking_policy_ids", "gdap_relationship", "gdap_status", "gdap_end"}

// WriteCSV writes the report's entries as CSV (RFC 4180), one row per
// tenant after a header row: the file a digest attaches. Policy and
// tenant names come from customers, so a cell that a spreadsheet would
// run as a formula (=, +, -, @, tab, carriage return first) is prefixed
// with an apostrophe.
func WriteCSV(w io.Writer, rep *Report) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	for _, r := range rep.Tenants {
		names := make([]string, len(r.Blocking))
		ids := make([]string, len(r.Blocking))
		for i, p := range r.Blocking {
			names[i] = p.DisplayName + " (" + string(p.Effect) + ")"
			ids[i] = p.ID
		}
		var rel, status, end string
		if r.Relationship != nil {
			rel, status = r.Relationship.DisplayName, r.Relationship.Status
			if !r.Relationship.EndDateTime.IsZero() {
				end = r.Relationship.EndDateTime.UTC().Format(time.RFC3339)
			}
		}
		row := []string{r.Tenant.ID, r.Tenant.DisplayName, r.Tenant.DefaultDomain, string(r.Verdict), r.Error,
			strconv.Itoa(len(r.Blocking)), strings.Join(names, "; "), strings.Join(ids, "; "), rel, status, end}
		for i := range row {
			row[i] = defuse(row[i])
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// defuse keeps a spreadsheet from reading a cell as a formula (OWASP's
// CSV injection advice).
func defuse(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
