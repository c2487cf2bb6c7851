package main

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/cacheck/ca-check/bot"
	"github.com/cacheck/ca-check/diagnose"
	"github.com/cacheck/ca-check/graphclient"
	"github.com/cacheck/ca-check/scan"
)

// envPrefix prefixes every environment variable: CACHECK_ + a Config tag.
const envPrefix = "CACHECK_"

// The configuration is read from the struct tags of bot.Config and
// graphclient.Config with reflect, field by field, rather than by a library
// that stops at the first value it cannot parse or renders its help with
// text/template (whose calls of methods by name keep every exported method
// of every reachable type, the whole Graph SDK, in the binary).
//
//	envconfig:"NAME"   the variable is CACHECK_NAME
//	default:"VALUE"    used when the variable is unset or empty
//	desc:"TEXT"        its line in 'ca-check help env'

// envVar is one configuration variable as its struct field declares it.
type envVar struct {
	name, def, desc string
	field           reflect.Value // settable
}

// envVars lists the variables of the struct spec points to, in field order.
func envVars(spec any) []envVar {
	v := reflect.ValueOf(spec).Elem()
	t := v.Type()
	vars := make([]envVar, 0, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("envconfig")
		if tag == "" || !f.IsExported() {
			continue
		}
		vars = append(vars, envVar{name: envPrefix + tag, def: f.Tag.Get("default"), desc: f.Tag.Get("desc"), field: v.Field(i)})
	}
	return vars
}

// readEnv fills spec (a pointer to a configuration struct) from getenv and
// returns one problem per variable it could not parse, naming the variable.
// A variable that is unset or empty takes its default; one that does not
// parse keeps its default too, so that Validate does not report it twice.
func readEnv(spec any, getenv func(string) string) []string {
	var probs []string
	for _, ev := range envVars(spec) {
		if ev.def != "" {
			if err := setField(ev.field, ev.def); err != nil {
				// A default that does not parse is a bug in the tags, which
				// TestEnvDefaultsParse catches.
				probs = append(probs, fmt.Sprintf("%s: the default %q does not parse: %v", ev.name, ev.def, err))
			}
		}
		val := strings.TrimSpace(getenv(ev.name))
		if val == "" {
			continue
		}
		if err := setField(ev.field, val); err != nil {
			probs = append(probs, fmt.Sprintf("%s is %q, not %s", ev.name, val, err))
		}
	}
	return probs
}

// errKind is a value of the wrong type; its text completes "X is "v", not …".
type errKind string

func (e errKind) Error() string { return string(e) }

// setField parses s into f by f's type. The messages never quote s: only
// the typed variables (numbers, durations) can fail to parse, and readEnv
// names their value itself.
func setField(f reflect.Value, s string) error {
	switch {
	case f.Type() == reflect.TypeFor[time.Duration]():
		d, err := time.ParseDuration(s)
		if err != nil {
			return errKind("a duration: give a number with a unit, such as 30s, 5m or 24h")
		}
		f.SetInt(int64(d))
	case f.Kind() == reflect.String:
		f.SetString(s)
	case f.Kind() == reflect.Bool:
		v, err := strconv.ParseBool(s)
		if err != nil {
			return errKind("true or false")
		}
		f.SetBool(v)
	case f.Kind() == reflect.Int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return errKind("a whole number")
		}
		f.SetInt(int64(n))
	case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String:
		var list []string
		for item := range strings.SplitSeq(s, ",") {
			if item = strings.TrimSpace(item); item != "" {
				list = append(list, item)
			}
		}
		f.Set(reflect.ValueOf(list))
	default:
		return fmt.Errorf("a supported type (%s is not one)", f.Type())
	}
	return nil
}

// configError is every configuration problem found, reported as one
// EINVALID error: a deployment is fixed in one round.
func configError(probs []string) error {
	return diagnose.Errorf(diagnose.EINVALID, "configuration: %s ('ca-check help env' lists the variables; README.md#configuration says how to get each)", strings.Join(probs, "; "))
}

// validationProblems returns the problems a Validate error lists: each of a
// bot.ConfigError, or the whole message of any other error.
func validationProblems(err error) []string {
	if err == nil {
		return nil
	}
	if ce, ok := errors.AsType[*bot.ConfigError](err); ok {
		return ce.Problems
	}
	return []string{diagnose.ErrorMessage(err)}
}

// loadConfig fills the bot's and graphclient's configurations from getenv
// and reports everything missing, malformed or of the wrong type in one
// error.
func loadConfig(getenv func(string) string) (serveConfig, error) {
	var c serveConfig
	probs := append(readEnv(&c.bot, getenv), readEnv(&c.graph, getenv)...)
	probs = append(probs, readEnv(&c.scan, getenv)...)
	probs = append(probs, validationProblems(c.bot.Validate())...)
	probs = append(probs, graphProblems(c.graph.Validate())...)
	probs = append(probs, validationProblems(c.scan.Validate())...)
	if len(probs) > 0 {
		return c, configError(probs)
	}
	return c, nil
}

// serveConfig is everything serve is configured with.
type serveConfig struct {
	bot   bot.Config
	graph graphclient.Config
	scan  scan.Config
}

// loadGraphConfig is loadConfig for the commands that need Graph alone.
func loadGraphConfig(getenv func(string) string) (graphclient.Config, error) {
	var gc graphclient.Config
	probs := readEnv(&gc, getenv)
	probs = append(probs, graphProblems(gc.Validate())...)
	if len(probs) > 0 {
		return gc, configError(probs)
	}
	return gc, nil
}

// graphProblems is validationProblems for graphclient.Config.Validate, whose
// message starts with the "configuration: " that configError adds again.
func graphProblems(err error) []string {
	probs := validationProblems(err)
	for i, p := range probs {
		probs[i] = strings.TrimPrefix(p, "configuration: ")
	}
	return probs
}

// envSpecs are the configuration structs whose fields are the
// environment variables, in the order 'help env' lists them.
func envSpecs() []any { return []any{&bot.Config{}, &graphclient.Config{}, &scan.Config{}} }

// printEnv is 'ca-check help env': every variable with its default and
// what it is, read from the same tags as the configuration.
func printEnv(w io.Writer) error {
	var b strings.Builder
	b.WriteString("ca-check is configured by environment variables.\n\nSlack bot (ca-check serve):\n")
	writeEnvVars(&b, &bot.Config{})
	b.WriteString("\nMicrosoft Graph (serve, diagnose --tenant, tenants, scan):\n")
	writeEnvVars(&b, &graphclient.Config{})
	b.WriteString("\nFleet scan (serve):\n")
	writeEnvVars(&b, &scan.Config{})
	_, err := io.WriteString(w, b.String())
	return err
}

func writeEnvVars(b *strings.Builder, spec any) {
	for _, ev := range envVars(spec) {
		b.WriteString(ev.name)
		if ev.def != "" {
			b.WriteString(" (default " + ev.def + ")")
		}
		b.WriteString("\n    " + ev.desc + "\n")
	}
}
