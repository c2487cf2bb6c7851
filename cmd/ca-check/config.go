package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"

	"github.com/kelseyhightower/envconfig"

	"github.com/cacheck/ca-check/bot"
	"github.com/cacheck/ca-check/diagnose"
	"github.com/cacheck/ca-check/graphclient"
)

// envPrefix prefixes every environment variable: CACHECK_ + a Config tag.
const envPrefix = "CACHECK"

// graph returns a Graph client for gc, over c.graphTransport when set.
func (c *cli) graph(gc graphclient.Config, opts ...graphclient.Option) (*graphclient.Client, error) {
	if c.graphTransport != nil {
		opts = append([]graphclient.Option{graphclient.WithHTTPClient(&http.Client{Transport: c.graphTransport})}, opts...)
	}
	return graphclient.New(gc, opts...)
}

// loadConfig fills the bot's and graphclient's configurations from the
// environment and reports everything missing or malformed in one error.
func loadConfig() (bot.Config, graphclient.Config, error) {
	var bc bot.Config
	var gc graphclient.Config
	var probs []string
	for _, spec := range []any{&bc, &gc} {
		if err := envconfig.Process(envPrefix, spec); err != nil {
			probs = append(probs, envError(err))
		}
	}
	if len(probs) == 0 {
		for _, err := range []error{bc.Validate(), gc.Validate()} {
			if err != nil {
				msg := strings.TrimPrefix(err.Error(), "configuration: ")
				probs = append(probs, strings.TrimSuffix(msg, " (see README.md#configuration)"))
			}
		}
	}
	if len(probs) > 0 {
		return bc, gc, diagnose.Errorf(diagnose.EINVALID, "configuration: %s ('ca-check help env' lists the variables; README.md#configuration says how to get each)", strings.Join(probs, "; "))
	}
	return bc, gc, nil
}

// loadGraphConfig is loadConfig for the commands that need Graph alone.
func loadGraphConfig() (graphclient.Config, error) {
	var gc graphclient.Config
	if err := envconfig.Process(envPrefix, &gc); err != nil {
		return gc, diagnose.Errorf(diagnose.EINVALID, "configuration: %s", envError(err))
	}
	if err := gc.Validate(); err != nil {
		return gc, diagnose.Errorf(diagnose.EINVALID, "%s ('ca-check help env' lists the variables)", diagnose.ErrorMessage(err))
	}
	return gc, nil
}

// envError names the variable envconfig could not parse, without its value
// (which may be a secret).
func envError(err error) string {
	var pe *envconfig.ParseError
	if errors.As(err, &pe) {
		return fmt.Sprintf("%s is not a valid %s", pe.KeyName, pe.TypeName)
	}
	return err.Error()
}

// printEnv is 'ca-check help env': every variable with its default and
// what it is, read from the struct tags with reflect. Not envconfig.Usagef:
// it renders with text/template, whose calls of methods by name make the
// linker keep every exported method of every reachable type, the whole Graph
// SDK with them (a stripped binary of 125 MiB instead of 21 MiB).
func printEnv(w io.Writer) error {
	var b strings.Builder
	b.WriteString("ca-check is configured by environment variables.\n\nSlack bot (ca-check serve):\n")
	writeEnvVars(&b, &bot.Config{})
	b.WriteString("\nMicrosoft Graph (serve, diagnose --tenant, tenants):\n")
	writeEnvVars(&b, &graphclient.Config{})
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

// envVar is one configuration variable as its struct field declares it:
// envconfig:"NAME" (the variable is CACHECK_NAME), default:"VALUE" and
// desc:"TEXT".
type envVar struct {
	name, def, desc string
}

// envVars lists the variables of the struct spec points to, in field order.
func envVars(spec any) []envVar {
	t := reflect.TypeOf(spec).Elem()
	vars := make([]envVar, 0, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("envconfig")
		if tag == "" || !f.IsExported() {
			continue
		}
		vars = append(vars, envVar{name: envPrefix + "_" + tag, def: f.Tag.Get("default"), desc: f.Tag.Get("desc")})
	}
	return vars
}
