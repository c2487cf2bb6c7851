package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/kelseyhightower/envconfig"

	"github.com/cacheck/ca-check/bot"
	"github.com/cacheck/ca-check/diagnose"
	"github.com/cacheck/ca-check/graphclient"
	"github.com/cacheck/ca-check/scan"
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
	var sc scan.Config
	var probs []string
	for _, spec := range []any{&bc, &gc, &sc} {
		if err := envconfig.Process(envPrefix, spec); err != nil {
			probs = append(probs, envError(err))
		}
	}
	if len(probs) == 0 {
		for _, err := range []error{bc.Validate(), gc.Validate(), sc.Validate()} {
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

// loadScanConfig reads the fleet scan's schedule and digest channel
// (loadConfig has checked them for serve).
func loadScanConfig() (scan.Config, error) {
	var sc scan.Config
	if err := envconfig.Process(envPrefix, &sc); err != nil {
		return sc, diagnose.Errorf(diagnose.EINVALID, "configuration: %s", envError(err))
	}
	if err := sc.Validate(); err != nil {
		return sc, diagnose.Errorf(diagnose.EINVALID, "%s ('ca-check help env' lists the variables)", diagnose.ErrorMessage(err))
	}
	return sc, nil
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

// envFormat is the template of 'ca-check help env': one block per variable.
const envFormat = `{{range .}}{{usage_key .}}{{if usage_default .}} (default {{usage_default .}}){{end}}
    {{usage_description .}}
{{end}}`

func printEnv(w io.Writer) error {
	fmt.Fprintln(w, "ca-check is configured by environment variables.\n\nSlack bot (ca-check serve):")
	if err := envconfig.Usagef(envPrefix, &bot.Config{}, w, envFormat); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nMicrosoft Graph (serve, diagnose --tenant, tenants, scan):")
	if err := envconfig.Usagef(envPrefix, &graphclient.Config{}, w, envFormat); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nFleet scan (serve):")
	return envconfig.Usagef(envPrefix, &scan.Config{}, w, envFormat)
}
