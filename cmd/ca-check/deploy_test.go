package main

import (
	"bufio"
	"errors"
	"io"
	"maps"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// No Docker engine or Kubernetes cluster runs where the tests run: these
// tests check what can be checked without one. The files parse, name only
// variables ca-check reads, and agree with the Dockerfile on the image, its
// user, its entry point and its ports.

const repoRoot = "../.."

// knownVars are the variables 'help env' lists, with their defaults.
func knownVars() map[string]string {
	vars := map[string]string{}
	for _, spec := range envSpecs() {
		for _, ev := range envVars(spec) {
			vars[ev.name] = ev.def
		}
	}
	return vars
}

// The env example has every variable 'help env' lists, once, each under a
// comment saying where its value comes from; a commented-out value is the
// default, and nothing is filled in (it would be a secret).
func TestEnvExampleComplete(t *testing.T) {
	f, err := os.Open(filepath.Join(repoRoot, "deploy/ca-check.env.example"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	known := knownVars()
	line := regexp.MustCompile(`^(# )?(CACHECK_[A-Z0-9_]+)=(.*)$`)
	seen := map[string]int{}
	explained := false // the current block (since a blank line) has prose
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		text := sc.Text()
		m := line.FindStringSubmatch(text)
		switch {
		case strings.TrimSpace(text) == "":
			explained = false
			continue
		case m == nil && strings.HasPrefix(text, "#"):
			explained = true
			continue
		case m == nil:
			t.Errorf("%q is neither a comment nor a variable", text)
			continue
		}
		commented, name, value := m[1] != "", m[2], m[3]
		seen[name]++
		def, ok := known[name]
		switch {
		case !ok:
			t.Errorf("%s is not a variable ca-check reads", name)
		case !explained:
			t.Errorf("%s has no comment saying where its value comes from", name)
		case !commented && value != "":
			t.Errorf("%s is filled in (%q): the example holds no values", name, value)
		case commented && def != "" && value != def:
			t.Errorf("# %s=%s: its default is %q", name, value, def)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for name := range known {
		if seen[name] != 1 {
			t.Errorf("%s appears %d times in the env example, want once", name, seen[name])
		}
	}
}

// dockerfile is what the Dockerfile says about the image.
type dockerfile struct {
	user       int          // USER's uid
	entrypoint string       // the binary
	exposed    map[int]bool // EXPOSE
	env        map[string]string
}

func readDockerfile(t *testing.T) dockerfile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	// Join continuation lines, then read the instructions of the last stage.
	text := strings.ReplaceAll(string(data), "\\\n", " ")
	stages := strings.Split(text, "\nFROM ")
	d := dockerfile{exposed: map[int]bool{}, env: map[string]string{}}
	for l := range strings.Lines(stages[len(stages)-1]) {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "USER":
			uid, _, _ := strings.Cut(f[1], ":")
			d.user, _ = strconv.Atoi(uid)
		case "ENTRYPOINT":
			d.entrypoint = strings.Trim(f[1], `["],`)
		case "EXPOSE":
			for _, p := range f[1:] {
				n, _ := strconv.Atoi(p)
				d.exposed[n] = true
			}
		case "ENV":
			for _, kv := range f[1:] {
				if k, v, ok := strings.Cut(kv, "="); ok {
					d.env[k] = v
				}
			}
		}
	}
	if d.user == 0 || d.entrypoint == "" || len(d.exposed) == 0 {
		t.Fatalf("could not read USER, ENTRYPOINT and EXPOSE from the Dockerfile: %+v", d)
	}
	return d
}

// portOf is the port of a listen address such as ":8081".
func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	n, err2 := strconv.Atoi(p)
	if err != nil || err2 != nil {
		t.Fatalf("%q is not host:port", addr)
	}
	return n
}

func TestComposeFile(t *testing.T) {
	df := readDockerfile(t)
	data, err := os.ReadFile(filepath.Join(repoRoot, "deploy/compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	type service struct {
		Image string
		Build struct {
			Context, Dockerfile string
		}
		Command     []string
		EnvFile     string `yaml:"env_file"`
		Environment map[string]string
		DependsOn   map[string]struct {
			Condition string
		} `yaml:"depends_on"`
		Deploy struct {
			Replicas int
		}
		Healthcheck struct {
			Test []string
		}
		Volumes []string
	}
	var c struct {
		Services map[string]service
		Volumes  map[string]any
	}
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	pg, ok := c.Services["postgres"]
	if !ok || !strings.HasPrefix(pg.Image, "postgres:") || len(pg.Healthcheck.Test) == 0 {
		t.Fatalf("no PostgreSQL service with a health check: %+v", pg)
	}
	for _, v := range pg.Volumes {
		name, _, _ := strings.Cut(v, ":")
		if _, ok := c.Volumes[name]; !ok {
			t.Errorf("postgres mounts %q, which is not a named volume", v)
		}
	}
	if len(pg.Volumes) == 0 {
		t.Error("PostgreSQL keeps its data in no volume")
	}

	app, ok := c.Services["ca-check"]
	if !ok {
		t.Fatal("no ca-check service")
	}
	if app.Deploy.Replicas != 2 {
		t.Errorf("%d replicas, want 2", app.Deploy.Replicas)
	}
	if _, err := os.Stat(filepath.Join(repoRoot, "deploy", app.Build.Context, app.Build.Dockerfile)); err != nil || app.Image != "ca-check" {
		t.Errorf("ca-check is not built from the repository's Dockerfile as image ca-check: %+v (%v)", app.Build, err)
	}
	if want := []string{"CMD", df.entrypoint, "healthcheck"}; !slices.Equal(app.Healthcheck.Test, want) {
		t.Errorf("health check %q, want %q", app.Healthcheck.Test, want)
	}
	if !slices.Equal(app.Command, []string{"serve"}) {
		t.Errorf("command %q, want serve", app.Command)
	}
	if _, err := os.Stat(filepath.Join(repoRoot, "deploy", app.EnvFile+".example")); err != nil {
		t.Errorf("env_file %q has no example beside it: %v", app.EnvFile, err)
	}
	if app.DependsOn["postgres"].Condition != "service_healthy" {
		t.Error("ca-check does not wait for a healthy PostgreSQL")
	}
	known := knownVars()
	for k := range app.Environment {
		if _, ok := known[k]; !ok {
			t.Errorf("environment sets %s, which ca-check does not read", k)
		}
	}
	db := app.Environment["CACHECK_DB"]
	if !strings.HasPrefix(db, "postgres://") || !strings.Contains(db, "@postgres:5432/") {
		t.Errorf("CACHECK_DB %q is not the postgres service", db)
	}
	// Socket Mode: nothing for Slack to reach, and no HTTP address set.
	if _, ok := app.Environment["CACHECK_HTTP_ADDR"]; ok {
		t.Error("compose runs Socket Mode, yet sets CACHECK_HTTP_ADDR")
	}
	if p := portOf(t, app.Environment["CACHECK_HEALTH_ADDR"]); !df.exposed[p] || p != portOf(t, df.env["CACHECK_HEALTH_ADDR"]) {
		t.Errorf("health port %d is not the Dockerfile's", p)
	}
}

// k8sObject is the part of a Kubernetes object these tests read.
type k8sObject struct {
	Kind     string
	Metadata struct {
		Name   string
		Labels map[string]string
	}
	StringData map[string]string `yaml:"stringData"`
	Spec       struct {
		Replicas int
		Selector map[string]any
		Ports    []struct {
			Name       string
			Port       int
			TargetPort string `yaml:"targetPort"`
		}
		Template struct {
			Metadata struct {
				Labels map[string]string
			}
			Spec struct {
				SecurityContext struct {
					RunAsNonRoot bool `yaml:"runAsNonRoot"`
					RunAsUser    int  `yaml:"runAsUser"`
				} `yaml:"securityContext"`
				Containers []k8sContainer
			}
		}
	}
}

type k8sProbe struct {
	HTTPGet struct {
		Path string
		Port string
	} `yaml:"httpGet"`
}

type k8sContainer struct {
	Image   string
	Args    []string
	EnvFrom []struct {
		SecretRef struct{ Name string } `yaml:"secretRef"`
	} `yaml:"envFrom"`
	Env []struct {
		Name, Value string
	}
	Ports []struct {
		Name          string
		ContainerPort int `yaml:"containerPort"`
	}
	LivenessProbe   k8sProbe `yaml:"livenessProbe"`
	ReadinessProbe  k8sProbe `yaml:"readinessProbe"`
	SecurityContext struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
		Capabilities             struct {
			Drop []string
		}
	} `yaml:"securityContext"`
}

func readK8s(t *testing.T) map[string]k8sObject {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, "deploy/kubernetes/*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	objs := map[string]k8sObject{}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(f)
		for {
			var o k8sObject
			err := dec.Decode(&o)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if _, dup := objs[o.Kind]; dup {
				t.Fatalf("%s: a second %s", name, o.Kind)
			}
			objs[o.Kind] = o
		}
		f.Close()
	}
	return objs
}

func TestKubernetesManifests(t *testing.T) {
	df := readDockerfile(t)
	objs := readK8s(t)
	dep, sec, svc := objs["Deployment"], objs["Secret"], objs["Service"]
	if dep.Kind == "" || sec.Kind == "" || svc.Kind == "" {
		t.Fatalf("want a Deployment, a Secret and a Service; have %v", slices.Collect(maps.Keys(objs)))
	}
	if dep.Spec.Replicas != 2 {
		t.Errorf("%d replicas, want 2", dep.Spec.Replicas)
	}
	pod := dep.Spec.Template.Spec
	if !pod.SecurityContext.RunAsNonRoot || pod.SecurityContext.RunAsUser != df.user {
		t.Errorf("pod security context %+v, want non-root as the Dockerfile's user %d", pod.SecurityContext, df.user)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	c := pod.Containers[0]
	if repo, _, _ := strings.Cut(path.Base(c.Image), ":"); repo != "ca-check" || !slices.Equal(c.Args, []string{"serve"}) {
		t.Errorf("image %q args %q: want the ca-check image running serve", c.Image, c.Args)
	}
	if sc := c.SecurityContext; sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || !sc.ReadOnlyRootFilesystem || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("container security context %+v", sc)
	}
	ports := map[string]int{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
		if !df.exposed[p.ContainerPort] {
			t.Errorf("port %s (%d) is not one the Dockerfile exposes", p.Name, p.ContainerPort)
		}
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	if ports["http"] == 0 || portOf(t, env["CACHECK_HTTP_ADDR"]) != ports["http"] {
		t.Errorf("HTTP mode: CACHECK_HTTP_ADDR %q and the http port %d disagree", env["CACHECK_HTTP_ADDR"], ports["http"])
	}
	if ports["health"] == 0 || portOf(t, env["CACHECK_HEALTH_ADDR"]) != ports["health"] {
		t.Errorf("CACHECK_HEALTH_ADDR %q and the health port %d disagree", env["CACHECK_HEALTH_ADDR"], ports["health"])
	}
	if p := c.LivenessProbe.HTTPGet; p.Path != "/healthz" || p.Port != "health" {
		t.Errorf("liveness probe %+v, want /healthz on the health port", p)
	}
	if p := c.ReadinessProbe.HTTPGet; p.Path != "/readyz" || p.Port != "health" {
		t.Errorf("readiness probe %+v, want /readyz on the health port", p)
	}
	if len(c.EnvFrom) != 1 || c.EnvFrom[0].SecretRef.Name != sec.Metadata.Name {
		t.Errorf("the container does not read the Secret %q", sec.Metadata.Name)
	}

	known := knownVars()
	for k := range sec.StringData {
		if _, ok := known[k]; !ok {
			t.Errorf("the Secret holds %s, which ca-check does not read", k)
		}
	}
	for _, k := range []string{"CACHECK_SLACK_BOT_TOKEN", "CACHECK_SLACK_SIGNING_SECRET", "CACHECK_DB", "CACHECK_PARTNER_TENANT_ID", "CACHECK_CLIENT_ID"} {
		if _, ok := sec.StringData[k]; !ok {
			t.Errorf("the Secret lacks %s, which HTTP mode on PostgreSQL needs", k)
		}
	}

	for k, v := range svc.Spec.Selector {
		if dep.Spec.Template.Metadata.Labels[k] != v {
			t.Errorf("the Service selects %s=%v, which the pods do not carry", k, v)
		}
	}
	if len(svc.Spec.Ports) != 1 || ports[svc.Spec.Ports[0].TargetPort] != ports["http"] || svc.Spec.Ports[0].TargetPort != "http" {
		t.Errorf("the Service does not send to the http port: %+v", svc.Spec.Ports)
	}
}

// The README's docker build tags the image the compose file and the
// manifests run.
func TestREADMEImage(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"-t ca-check .", "--env-file deploy/ca-check.env", "docker compose -f deploy/compose.yaml up", "kubectl apply -f deploy/kubernetes/"} {
		if !strings.Contains(string(readme), w) {
			t.Errorf("README.md does not say %q", w)
		}
	}
}
