package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/cacheck/ca-check/diagnose"
	"github.com/cacheck/ca-check/graphclient"
)

// diagnoseFlags are the flags of 'ca-check diagnose'.
type diagnoseFlags struct {
	tenant, policies, namedLocations, signIns, crossTenant string
	partner, customer, app, platform, client, ip, country  string
	roles, errorFile, correlationID                        string
	asJSON, markdown, guide, allTenants                    bool

	// The customer tenant the error file names, if it does: by ID, or by
	// domain or name.
	errorTenant, errorTenantName string
}

func runDiagnose(ctx context.Context, c *cli, args []string) error {
	fs := newFlags(c, "diagnose", "(--policies PATH | --tenant TENANT) [flags]", "")
	var f diagnoseFlags
	fs.StringVar(&f.tenant, "tenant", "", "diagnose live: customer tenant ID, verified domain, or GDAP customer name (needs the CACHECK_ Graph settings)")
	fs.StringVar(&f.policies, "policies", "", "offline: exported CA policies (a Graph list, an array, one policy, or a directory of such .json files)")
	fs.StringVar(&f.namedLocations, "named-locations", "", "offline: exported named locations")
	fs.StringVar(&f.signIns, "sign-ins", "", "offline: exported sign-in log entries")
	fs.StringVar(&f.crossTenant, "cross-tenant", "", "offline: the customer's cross-tenant access settings for the partner")
	fs.StringVar(&f.partner, "partner-tenant", "", "the partner's tenant ID (default $CACHECK_PARTNER_TENANT_ID)")
	fs.StringVar(&f.customer, "customer-tenant", "", "offline: the customer's tenant ID, for the guide (default: from the error file or the sign-ins)")
	fs.StringVar(&f.app, "app", "", "app signed in to: its ID, name or resource URI (default: the error file's, else the partner's usual apps, worst result reported)")
	fs.StringVar(&f.platform, "platform", "", "device platform (windows, macOS, iOS, android, linux)")
	fs.StringVar(&f.client, "client", "", "client type: browser or mobileAppsAndDesktopClients (default: either)")
	fs.StringVar(&f.ip, "ip", "", "the partner's IP address")
	fs.StringVar(&f.country, "country", "", "the IP's country, two letters (no geolocation is done)")
	fs.StringVar(&f.roles, "roles", "", "the partner's GDAP roles: comma-separated role template IDs or names")
	fs.StringVar(&f.errorFile, "error-file", "", "a pasted error: fills app, IP, platform and correlation ID (flags win)")
	fs.StringVar(&f.correlationID, "correlation-id", "", "the failing sign-in's correlation ID (to match sign-in log entries)")
	fs.BoolVar(&f.asJSON, "json", false, "print JSON")
	fs.BoolVar(&f.markdown, "markdown", false, "print Markdown")
	fs.BoolVar(&f.guide, "guide", false, "append the step-by-step fix for each blocking policy")
	fs.BoolVar(&f.allTenants, "all-tenants", false, "plan exclusions for service provider users of every tenant, not the partner's alone")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return diagnose.Errorf(diagnose.EINVALID, "unexpected argument %q: diagnose takes flags only (see 'ca-check diagnose --help')", fs.Arg(0))
	}
	if f.asJSON && f.markdown {
		return diagnose.Errorf(diagnose.EINVALID, "--json and --markdown exclude each other")
	}
	if f.partner == "" {
		f.partner = os.Getenv("CACHECK_PARTNER_TENANT_ID")
	}
	sc, err := f.scenario(c)
	if err != nil {
		return err
	}
	var d *diagnose.Diagnosis
	switch {
	case f.tenant != "" && f.policies != "":
		return diagnose.Errorf(diagnose.EINVALID, "--tenant (live) and --policies (offline) exclude each other")
	case f.tenant != "":
		d, err = diagnoseLive(ctx, c, f.tenant, sc)
	case f.policies != "":
		var ev diagnose.Evidence
		ev, sc, err = f.offlineEvidence(c, sc)
		if err == nil {
			d = diagnose.Evaluate(ev, sc)
		}
	default:
		return diagnose.Errorf(diagnose.EINVALID, "give --policies PATH (offline) or --tenant TENANT (live); see 'ca-check diagnose --help'")
	}
	if err != nil {
		return err
	}
	return printDiagnosis(c.stdout, d, f)
}

func printDiagnosis(w io.Writer, d *diagnose.Diagnosis, f diagnoseFlags) error {
	if f.asJSON {
		return writeJSON(w, d)
	}
	out := diagnose.Text(d)
	if f.markdown {
		out = diagnose.Markdown(d)
	}
	if f.guide && len(d.Blocking()) > 0 {
		out += "\n" + diagnose.Guide(d)
	}
	_, err := io.WriteString(w, out)
	return err
}

// scenario builds the scenario from the flags and the error file; explicit
// flags win over what the paste says.
func (f *diagnoseFlags) scenario(c *cli) (diagnose.Scenario, error) {
	sc := diagnose.Scenario{AllTenantsFix: f.allTenants}
	if !graphclient.IsGUID(f.partner) {
		if f.partner == "" {
			return sc, diagnose.Errorf(diagnose.EINVALID, "the partner tenant is required: --partner-tenant GUID or CACHECK_PARTNER_TENANT_ID")
		}
		return sc, diagnose.Errorf(diagnose.EINVALID, "--partner-tenant %q is not a tenant ID (a GUID)", f.partner)
	}
	sc.PartnerTenantID = strings.ToLower(f.partner)
	if f.errorFile != "" {
		data, err := readInput(c, f.errorFile)
		if err != nil {
			return sc, err
		}
		errs := diagnose.ParseErrors(string(data))
		if len(errs) == 0 {
			return sc, diagnose.Errorf(diagnose.EINVALID, "%s: no AADSTS error code found in it", f.errorFile)
		}
		pasted := diagnose.PastedScenario(errs)
		pasted.PartnerTenantID, pasted.AllTenantsFix = sc.PartnerTenantID, sc.AllTenantsFix
		sc = pasted
		e, _ := diagnose.PrimaryError(errs)
		f.errorTenant, f.errorTenantName = e.TenantID, e.TenantName
	}
	if f.app != "" {
		id := strings.TrimSpace(f.app)
		if a, ok := diagnose.FindApp(id); ok {
			id = a.ID
		} else if !graphclient.IsGUID(id) {
			return sc, diagnose.Errorf(diagnose.EINVALID, "--app %q is neither an application ID (a GUID) nor a known app name such as \"Azure Portal\" or \"Office 365 Exchange Online\"", f.app)
		}
		sc.Apps = []string{strings.ToLower(id)}
	}
	if f.platform != "" {
		p := diagnose.NormalizePlatform(f.platform)
		if p == "" {
			return sc, diagnose.Errorf(diagnose.EINVALID, "--platform %q: use windows, macOS, iOS, android or linux", f.platform)
		}
		sc.Platform = p
	}
	switch f.client {
	case "":
	case diagnose.ClientBrowser, diagnose.ClientMobileDesktop:
		sc.ClientType = f.client
	default:
		return sc, diagnose.Errorf(diagnose.EINVALID, "--client %q: use browser or mobileAppsAndDesktopClients", f.client)
	}
	if f.ip != "" {
		ip, err := netip.ParseAddr(strings.TrimSpace(f.ip))
		if err != nil {
			return sc, diagnose.Errorf(diagnose.EINVALID, "--ip %q is not an IP address", f.ip)
		}
		sc.IP = ip
	}
	if f.country != "" {
		if len(f.country) != 2 {
			return sc, diagnose.Errorf(diagnose.EINVALID, "--country %q: use a two-letter country code such as US", f.country)
		}
		sc.Country = strings.ToUpper(f.country)
	}
	if f.roles != "" {
		for r := range strings.SplitSeq(f.roles, ",") {
			r = strings.TrimSpace(r)
			switch role, ok := diagnose.LookupRole(r); {
			case r == "":
			case ok:
				sc.Roles = append(sc.Roles, role.ID)
			case graphclient.IsGUID(r): // a role the catalog does not name
				sc.Roles = append(sc.Roles, strings.ToLower(r))
			default:
				return sc, diagnose.Errorf(diagnose.EINVALID, "--roles: %q is neither a role template ID (a GUID) nor a built-in role name such as \"Global Administrator\"", r)
			}
		}
		sc.RolesKnown = true
	}
	if f.correlationID != "" {
		sc.CorrelationID = strings.ToLower(strings.TrimSpace(f.correlationID))
	}
	return sc, nil
}

// offlineEvidence reads the exported files named by the flags. A file of a
// directory that cannot be read is named on stderr and in the evidence's
// Missing (UnreadPolicies for policies), and the others are read.
func (f *diagnoseFlags) offlineEvidence(c *cli, sc diagnose.Scenario) (diagnose.Evidence, diagnose.Scenario, error) {
	var ev diagnose.Evidence
	var err error
	var skipped []string
	skip := func(what string, files []string) {
		for _, s := range files {
			fmt.Fprintf(c.stderr, "ca-check: skipped %s\n", s)
			if what != "" {
				ev.Missing = append(ev.Missing, what+": "+s)
			}
		}
	}
	if ev.Policies, skipped, err = readExport(f.policies, diagnose.DecodePolicies); err != nil {
		return ev, sc, err
	}
	skip("", skipped)
	ev.UnreadPolicies = skipped
	seen := make(map[string]bool, len(ev.Policies))
	for _, p := range ev.Policies {
		id := strings.ToLower(p.ID)
		if diagnose.IsPlaceholder(id) {
			continue // a template's: every policy made from it has it
		}
		if id != "" && seen[id] {
			return ev, sc, diagnose.Errorf(diagnose.EINVALID, "%s: policy %s appears twice (the same export twice in one directory?)", f.policies, p.ID)
		}
		seen[id] = true
	}
	if f.customer != "" && !graphclient.IsGUID(f.customer) {
		return ev, sc, diagnose.Errorf(diagnose.EINVALID, "--customer-tenant %q is not a tenant ID (a GUID)", f.customer)
	}
	if f.namedLocations != "" {
		if ev.NamedLocations, skipped, err = readExport(f.namedLocations, diagnose.DecodeNamedLocations); err != nil {
			return ev, sc, err
		}
		skip("named locations", skipped)
		if ev.NamedLocations == nil {
			ev.NamedLocations = []diagnose.NamedLocation{}
		}
	} else {
		ev.Missing = append(ev.Missing, "named locations: not given (--named-locations); conditions on them are unknown")
	}
	if f.signIns != "" {
		if ev.SignIns, skipped, err = readExport(f.signIns, diagnose.DecodeSignIns); err != nil {
			return ev, sc, err
		}
		skip("sign-in log", skipped)
	}
	if id := f.customerTenant(ev.SignIns); id != "" {
		ev.Tenant = &diagnose.Tenant{ID: id}
	} else if f.errorTenantName != "" {
		// Named but not by ID: the guide shows the name and keeps the
		// ID's placeholder.
		ev.Tenant = &diagnose.Tenant{DisplayName: f.errorTenantName}
	}
	if f.crossTenant != "" {
		settings, skipped, err := readExport(f.crossTenant, diagnose.DecodeCrossTenant)
		if err != nil {
			return ev, sc, err
		}
		skip("cross-tenant settings", skipped)
		for i := range settings {
			if settings[i].TenantID == "" || strings.EqualFold(settings[i].TenantID, sc.PartnerTenantID) {
				sc.CrossTenant = &settings[i]
				break
			}
		}
		if sc.CrossTenant == nil {
			return ev, sc, diagnose.Errorf(diagnose.EINVALID, "%s: no settings for the partner tenant %s in it", f.crossTenant, sc.PartnerTenantID)
		}
	}
	return ev, sc, nil
}

// customerTenant names the tenant the export comes from: the flag, else the
// error file's tenant, else the sign-ins' resource tenant.
func (f *diagnoseFlags) customerTenant(signIns []diagnose.SignIn) string {
	if f.customer != "" {
		return strings.ToLower(f.customer)
	}
	if graphclient.IsGUID(f.errorTenant) {
		return strings.ToLower(f.errorTenant)
	}
	for _, s := range signIns {
		if graphclient.IsGUID(s.ResourceTenantID) {
			return strings.ToLower(s.ResourceTenantID)
		}
	}
	return ""
}

// readExport decodes a file, or every .json file of a directory, naming the
// file in any error. In a directory, a file that cannot be read does not
// sink the others: it is left out and named in skipped ("file: why"); a
// directory of which no file can be read is an error.
func readExport[T any](path string, decode func([]byte) ([]T, error)) (items []T, skipped []string, err error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, nil, diagnose.Errorf(diagnose.EINVALID, "%s: %w", path, unwrapPath(err))
	}
	if !info.IsDir() {
		items, err := readExportFile(path, decode)
		return items, nil, err
	}
	files, err := filepath.Glob(filepath.Join(path, "*.json"))
	if err != nil {
		return nil, nil, diagnose.Errorf(diagnose.EINVALID, "%s: %w", path, err)
	}
	if len(files) == 0 {
		return nil, nil, diagnose.Errorf(diagnose.EINVALID, "%s: a directory with no .json file in it", path)
	}
	var first error
	for _, name := range files {
		got, err := readExportFile(name, decode)
		if err != nil {
			skipped = append(skipped, diagnose.ErrorMessage(err))
			first = cmp.Or(first, err)
			continue
		}
		items = append(items, got...)
	}
	if len(skipped) == len(files) {
		if len(files) == 1 {
			return nil, nil, first
		}
		return nil, nil, diagnose.Errorf(diagnose.EINVALID, "%s: none of its %d .json files could be read; the first: %s", path, len(files), diagnose.ErrorMessage(first))
	}
	return items, skipped, nil
}

// readExportFile decodes one exported file, naming it in any error.
func readExportFile[T any](name string, decode func([]byte) ([]T, error)) ([]T, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return nil, diagnose.Errorf(diagnose.EINVALID, "%s: %w", name, unwrapPath(err))
	}
	if fi.Size() > diagnose.MaxExportSize {
		return nil, diagnose.Errorf(diagnose.EINVALID, "%s: %d bytes, more than an export can be (%d)", name, fi.Size(), diagnose.MaxExportSize)
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, diagnose.Errorf(diagnose.EINVALID, "%s: %w", name, unwrapPath(err))
	}
	items, err := decode(data)
	if err != nil {
		return nil, diagnose.Errorf(diagnose.EINVALID, "%s: %s", name, diagnose.ErrorMessage(err))
	}
	return items, nil
}

// diagnoseLive reads the evidence from the customer tenant through Graph.
func diagnoseLive(ctx context.Context, c *cli, tenant string, sc diagnose.Scenario) (*diagnose.Diagnosis, error) {
	gc, err := loadGraphConfig(os.Getenv)
	if err != nil {
		return nil, err
	}
	graph, err := c.graph(gc)
	if err != nil {
		return nil, err
	}
	if !graphclient.IsGUID(tenant) {
		c.say("resolving the tenant %q", strings.TrimSpace(tenant))
	}
	return graph.Diagnose(ctx, tenant, sc)
}
