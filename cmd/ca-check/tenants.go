package main

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/cacheck/ca-check/diagnose"
)

func runTenants(ctx context.Context, c *cli, args []string) error {
	fs := newFlags(c, "tenants", "[--json]", "")
	asJSON := fs.Bool("json", false, "print JSON: {\"customers\":[…]}")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return diagnose.Errorf(diagnose.EINVALID, "tenants takes no arguments")
	}
	gc, err := loadGraphConfig(os.Getenv)
	if err != nil {
		return err
	}
	graph, err := c.graph(gc)
	if err != nil {
		return err
	}
	rels, err := graph.Customers(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		if rels == nil {
			rels = []diagnose.Relationship{}
		}
		return writeJSON(c.stdout, struct {
			Customers []diagnose.Relationship `json:"customers"`
		}{rels})
	}
	tw := tabwriter.NewWriter(c.stdout, 2, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CUSTOMER\tTENANT ID\tSTATUS\tENDS\tRELATIONSHIP")
	for _, r := range rels {
		end := "-"
		if !r.EndDateTime.IsZero() {
			end = r.EndDateTime.UTC().Format(time.DateOnly)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", orDash(r.CustomerName), r.CustomerTenantID, orDash(r.Status), end, orDash(r.DisplayName))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(rels) == 0 {
		fmt.Fprintln(c.stderr, "ca-check: the partner tenant has no GDAP relationships")
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
