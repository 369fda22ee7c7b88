package scaleout_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	kubernetesDir = "deploy/kubernetes"
	composeFile   = "deploy/docker-compose.yml"
	// helpTimeout bounds `gateway --help`.
	helpTimeout = 30 * time.Second
)

// gatewayVar matches a gateway variable name anywhere in a text.
var gatewayVar = regexp.MustCompile(`\bGATEWAY_[A-Z0-9_]+\b`)

// secretVars hold credentials: they belong in a Secret, never in a
// ConfigMap or a committed compose file.
var secretVars = []string{"GATEWAY_JWT_SECRET", "GATEWAY_API_KEYS", "GATEWAY_UPSTREAM_AUTH"}

// gatewayVars runs `gateway --help` and returns every variable it lists,
// with its default (the `  NAME=default` lines).
func gatewayVars(t *testing.T, bin string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), helpTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--help").Output()
	if err != nil {
		t.Fatalf("gateway --help: %v", err)
	}
	vars := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if name, def, ok := strings.Cut(line, "="); ok && gatewayVar.FindString(name) == name {
			vars[name] = def
		}
	}
	// Names mentioned only in the prose count too (they have no default).
	for _, name := range gatewayVar.FindAllString(string(out), -1) {
		if _, ok := vars[name]; !ok {
			vars[name] = ""
		}
	}
	// A sanity floor: CONTRACT §4 lists about 60 variables.
	if len(vars) < 40 {
		t.Fatalf("gateway --help lists only %d GATEWAY_ variables:\n%s", len(vars), out)
	}
	return vars
}

// manifest is one YAML document of a file under deploy/kubernetes.
type manifest struct {
	file string
	obj  map[string]any
}

func (m manifest) kind() string { return digString(m.obj, "kind") }
func (m manifest) name() string { return digString(m.obj, "metadata", "name") }

// TestManifests checks the deployment examples against the gateway itself:
// every variable they set is one `gateway --help` lists, and the Kubernetes
// objects, the Compose file and the nginx example fit together.
func TestManifests(t *testing.T) {
	root := moduleRoot(t)
	vars := gatewayVars(t, buildGateway(t))

	files, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(kubernetesDir), "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s (%v)", kubernetesDir, err)
	}
	var manifests []manifest
	var kustomization map[string]any
	byKind := map[string]manifest{}
	for _, f := range files {
		docs := parseFile(t, f)
		if filepath.Base(f) == "kustomization.yaml" {
			kustomization, _ = docs[0].(map[string]any)
			continue
		}
		for _, d := range docs {
			obj, ok := d.(map[string]any)
			if !ok {
				t.Fatalf("%s: a document is not a mapping", rel(root, f))
			}
			m := manifest{file: filepath.Base(f), obj: obj}
			manifests = append(manifests, m)
			if _, dup := byKind[m.kind()]; dup {
				t.Fatalf("%s: a second %s; the checks below expect one of each kind", m.file, m.kind())
			}
			byKind[m.kind()] = m
		}
	}
	compose := parseFile(t, filepath.Join(root, filepath.FromSlash(composeFile)))[0]

	t.Run("every_GATEWAY_name_is_a_gateway_variable", func(t *testing.T) {
		for _, f := range append(slices.Clone(files), filepath.Join(root, filepath.FromSlash(composeFile))) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for i, line := range strings.Split(string(b), "\n") {
				for _, name := range gatewayVar.FindAllString(line, -1) {
					if _, ok := vars[name]; !ok {
						t.Errorf("%s:%d: %s is not a gateway variable (see gateway --help)", rel(root, f), i+1, name)
					}
				}
			}
		}
	})

	t.Run("every_manifest_has_apiVersion_kind_and_name", func(t *testing.T) {
		for _, m := range manifests {
			if digString(m.obj, "apiVersion") == "" || m.kind() == "" || m.name() == "" {
				t.Errorf("%s: a document without apiVersion, kind or metadata.name", m.file)
			}
		}
		for kind, apiVersion := range map[string]string{
			"Deployment":              "apps/v1",
			"Service":                 "v1",
			"ConfigMap":               "v1",
			"Secret":                  "v1",
			"PodDisruptionBudget":     "policy/v1",
			"HorizontalPodAutoscaler": "autoscaling/v2",
			"ServiceMonitor":          "monitoring.coreos.com/v1",
		} {
			m, ok := byKind[kind]
			if !ok {
				t.Errorf("no %s in %s", kind, kubernetesDir)
				continue
			}
			if got := digString(m.obj, "apiVersion"); got != apiVersion {
				t.Errorf("%s: %s has apiVersion %q, want %q", m.file, kind, got, apiVersion)
			}
		}
	})

	t.Run("kustomization_lists_every_manifest", func(t *testing.T) {
		if kustomization == nil {
			t.Fatalf("no kustomization.yaml in %s", kubernetesDir)
		}
		if got := digString(kustomization, "kind"); got != "Kustomization" {
			t.Errorf("kustomization.yaml: kind %q", got)
		}
		listed := stringList(kustomization, "resources")
		var want []string
		for _, f := range files {
			if b := filepath.Base(f); b != "kustomization.yaml" {
				want = append(want, b)
			}
		}
		sort.Strings(listed)
		if !slices.Equal(listed, want) {
			t.Errorf("kustomization.yaml resources = %v, want every other manifest: %v", listed, want)
		}
	})

	cm, secret, dep := byKind["ConfigMap"], byKind["Secret"], byKind["Deployment"]
	config, _ := dig(cm.obj, "data")
	configData, _ := config.(map[string]any)

	t.Run("configmap_and_secret", func(t *testing.T) {
		if len(configData) == 0 {
			t.Fatalf("%s: no data", cm.file)
		}
		for k, v := range configData {
			if _, ok := vars[k]; !ok {
				t.Errorf("%s: key %s is not a gateway variable", cm.file, k)
			}
			if slices.Contains(secretVars, k) {
				t.Errorf("%s: %s holds a credential: put it in the Secret", cm.file, k)
			}
			if _, ok := v.(string); !ok {
				t.Errorf("%s: %s is not a string", cm.file, k)
			}
		}
		data, _ := dig(secret.obj, "stringData")
		m, _ := data.(map[string]any)
		for _, k := range []string{"GATEWAY_JWT_SECRET", "GATEWAY_API_KEYS"} {
			if _, ok := m[k]; !ok {
				t.Errorf("%s: stringData has no %s placeholder", secret.file, k)
			}
		}
		for k := range m {
			if _, ok := vars[k]; !ok {
				t.Errorf("%s: key %s is not a gateway variable", secret.file, k)
			}
		}
	})

	t.Run("deployment", func(t *testing.T) {
		pod, _ := dig(dep.obj, "spec", "template", "spec")
		c, _ := dig(pod, "containers", 0)
		if c == nil {
			t.Fatalf("%s: no container", dep.file)
		}
		for _, p := range []struct{ probe, path string }{{"readinessProbe", "/readyz"}, {"livenessProbe", "/healthz"}} {
			if got := digString(c, p.probe, "httpGet", "path"); got != p.path {
				t.Errorf("%s: %s path %q, want %q", dep.file, p.probe, got, p.path)
			}
			if got := digString(c, p.probe, "httpGet", "port"); got != "http" && got != "8080" {
				t.Errorf("%s: %s port %q, want the main port", dep.file, p.probe, got)
			}
		}
		if _, ok := dig(c, "lifecycle", "preStop"); ok {
			t.Errorf("%s: a preStop hook; the gateway drains by itself (GATEWAY_DRAIN_DELAY)", dep.file)
		}

		// SIGKILL must not come before the drain and the 1001 closes end.
		grace, err := strconv.Atoi(digString(pod, "terminationGracePeriodSeconds"))
		if err != nil {
			t.Fatalf("%s: terminationGracePeriodSeconds: %v", dep.file, err)
		}
		budget := durationVar(t, vars, configData, "GATEWAY_DRAIN_DELAY") + durationVar(t, vars, configData, "GATEWAY_SHUTDOWN_TIMEOUT")
		if time.Duration(grace)*time.Second <= budget {
			t.Errorf("%s: terminationGracePeriodSeconds %d <= GATEWAY_DRAIN_DELAY + GATEWAY_SHUTDOWN_TIMEOUT = %v", dep.file, grace, budget)
		}

		for _, check := range []struct {
			path []any
			want string
		}{
			{[]any{"securityContext", "runAsNonRoot"}, "true"},
			{[]any{"securityContext", "readOnlyRootFilesystem"}, "true"},
			{[]any{"securityContext", "allowPrivilegeEscalation"}, "false"},
			{[]any{"securityContext", "capabilities", "drop", 0}, "ALL"},
			{[]any{"ports", 0, "name"}, "http"},
			{[]any{"ports", 0, "containerPort"}, "8080"},
			{[]any{"envFrom", 0, "configMapRef", "name"}, cm.name()},
			{[]any{"envFrom", 1, "secretRef", "name"}, secret.name()},
		} {
			if got := digString(c, check.path...); got != check.want {
				t.Errorf("%s: container %v = %q, want %q", dep.file, check.path, got, check.want)
			}
		}
		for _, r := range [][]any{{"requests", "cpu"}, {"requests", "memory"}, {"limits", "cpu"}, {"limits", "memory"}} {
			if digString(c, append([]any{"resources"}, r...)...) == "" {
				t.Errorf("%s: no resources %v", dep.file, r)
			}
		}
		if _, ok := dig(c, "env"); ok {
			t.Errorf("%s: env in the container; configure through the ConfigMap and the Secret", dep.file)
		}
		if digString(dep.obj, "spec", "replicas") != "" {
			t.Errorf("%s: spec.replicas is set while the HorizontalPodAutoscaler owns the count", dep.file)
		}
	})

	t.Run("objects_select_the_gateway_pods", func(t *testing.T) {
		podLabels, _ := dig(dep.obj, "spec", "template", "metadata", "labels")
		selects := func(m manifest, path ...any) {
			sel, _ := dig(m.obj, path...)
			sm, _ := sel.(map[string]any)
			pl, _ := podLabels.(map[string]any)
			if len(sm) == 0 {
				t.Errorf("%s: empty selector %v", m.file, path)
			}
			for k, v := range sm {
				if pl[k] != v {
					t.Errorf("%s: selector %s=%v does not match the pod labels %v", m.file, k, v, pl)
				}
			}
		}
		selects(dep, "spec", "selector", "matchLabels")
		selects(byKind["Service"], "spec", "selector")
		selects(byKind["PodDisruptionBudget"], "spec", "selector", "matchLabels")

		svc := byKind["Service"]
		port, _ := dig(svc.obj, "spec", "ports", 0)
		if digString(port, "port") != "80" || digString(port, "targetPort") != "http" {
			t.Errorf("%s: first port %v, want 80 → targetPort http", svc.file, port)
		}
		if a := digString(svc.obj, "spec", "sessionAffinity"); a != "" && a != "None" {
			t.Errorf("%s: sessionAffinity is not needed", svc.file)
		}

		// The ServiceMonitor selects the Service, and scrapes its named port.
		mon := byKind["ServiceMonitor"]
		sel, _ := dig(mon.obj, "spec", "selector", "matchLabels")
		svcLabels, _ := dig(svc.obj, "metadata", "labels")
		sm, _ := sel.(map[string]any)
		sl, _ := svcLabels.(map[string]any)
		for k, v := range sm {
			if sl[k] != v {
				t.Errorf("%s: selector %s=%v does not match the Service's labels %v", mon.file, k, v, sl)
			}
		}
		if got := digString(mon.obj, "spec", "endpoints", 0, "port"); got != digString(port, "name") {
			t.Errorf("%s: scrapes port %q, the Service's port is named %q", mon.file, got, digString(port, "name"))
		}
		if got := digString(mon.obj, "spec", "endpoints", 0, "path"); got != "/metrics" {
			t.Errorf("%s: path %q, want /metrics", mon.file, got)
		}

		hpa := byKind["HorizontalPodAutoscaler"]
		if digString(hpa.obj, "spec", "scaleTargetRef", "kind") != "Deployment" || digString(hpa.obj, "spec", "scaleTargetRef", "name") != dep.name() {
			t.Errorf("%s: scaleTargetRef does not name Deployment %s", hpa.file, dep.name())
		}
		if got := digString(hpa.obj, "spec", "metrics", 0, "resource", "name"); got != "cpu" {
			t.Errorf("%s: first metric %q, want cpu", hpa.file, got)
		}
		if n, err := strconv.Atoi(digString(hpa.obj, "spec", "minReplicas")); err != nil || n < 2 {
			t.Errorf("%s: minReplicas %q, want >= 2 so that a drain never leaves no replica", hpa.file, digString(hpa.obj, "spec", "minReplicas"))
		}
	})

	t.Run("compose", func(t *testing.T) {
		services, _ := dig(compose, "services")
		sm, _ := services.(map[string]any)
		for _, name := range []string{"redis", "node-a", "node-b", "gateway-a", "gateway-b", "nginx"} {
			if _, ok := sm[name]; !ok {
				t.Errorf("%s: no service %s", composeFile, name)
			}
		}
		deployDir := filepath.Join(root, "deploy")
		for name, svc := range sm {
			if env, ok := dig(svc, "environment"); ok {
				em, _ := env.(map[string]any)
				for k := range em {
					if strings.HasPrefix(k, "GATEWAY_") && slices.Contains(secretVars, k) {
						t.Errorf("%s: service %s sets %s in the file", composeFile, name, k)
					}
				}
			}
			// Every bind-mounted file exists.
			if vols, ok := dig(svc, "volumes"); ok {
				vl, _ := vols.([]any)
				for _, v := range vl {
					src, _, _ := strings.Cut(v.(string), ":")
					if strings.HasPrefix(src, ".") {
						if _, err := os.Stat(filepath.Join(deployDir, filepath.FromSlash(src))); err != nil {
							t.Errorf("%s: service %s mounts %s: %v", composeFile, name, src, err)
						}
					}
				}
			}
			if ctx := digString(svc, "build", "context"); ctx != "" {
				df := digString(svc, "build", "dockerfile")
				if _, err := os.Stat(filepath.Join(deployDir, filepath.FromSlash(ctx), df)); err != nil {
					t.Errorf("%s: service %s builds %s: %v", composeFile, name, df, err)
				}
			}
		}
		for _, name := range []string{"gateway-a", "gateway-b"} {
			svc := sm[name]
			env, _ := dig(svc, "environment")
			em, _ := env.(map[string]any)
			budget := durationVar(t, vars, em, "GATEWAY_DRAIN_DELAY") + durationVar(t, vars, em, "GATEWAY_SHUTDOWN_TIMEOUT")
			grace, err := time.ParseDuration(digString(svc, "stop_grace_period"))
			if err != nil || grace <= budget {
				t.Errorf("%s: %s stop_grace_period %q, want more than GATEWAY_DRAIN_DELAY + GATEWAY_SHUTDOWN_TIMEOUT = %v", composeFile, name, digString(svc, "stop_grace_period"), budget)
			}
		}
	})

	t.Run("nginx_example", func(t *testing.T) {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(nginxSiteFile)))
		if err != nil {
			t.Fatal(err)
		}
		conf := string(b)
		for _, want := range []string{
			"proxy_http_version 1.1;",
			"proxy_set_header Upgrade $http_upgrade;",
			"proxy_set_header Connection $connection_upgrade;",
			"proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
			"proxy_next_upstream error timeout http_502 http_503;",
		} {
			if !strings.Contains(conf, want) {
				t.Errorf("%s: no %q", nginxSiteFile, want)
			}
		}
		if strings.Contains(conf, "ip_hash") || strings.Contains(conf, "sticky") {
			t.Errorf("%s: session affinity is not needed", nginxSiteFile)
		}
		ping := durationVar(t, vars, configData, "GATEWAY_PING_INTERVAL")
		for _, d := range []string{"proxy_read_timeout", "proxy_send_timeout"} {
			m := regexp.MustCompile(`\b` + d + `\s+(\S+);`).FindStringSubmatch(conf)
			if m == nil {
				t.Errorf("%s: no %s", nginxSiteFile, d)
				continue
			}
			got, err := nginxDuration(m[1])
			if err != nil || got <= ping {
				t.Errorf("%s: %s %s, want more than GATEWAY_PING_INTERVAL (%v) (%v)", nginxSiteFile, d, m[1], ping, err)
			}
		}
	})
}

// parseFile reads and parses one YAML file, failing the test on error.
func parseFile(t *testing.T, path string) []any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := parseYAML(string(b))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(docs) == 0 {
		t.Fatalf("%s: empty", path)
	}
	return docs
}

// durationVar is the duration variable name as set in set, else its
// default from `gateway --help`.
func durationVar(t *testing.T, vars map[string]string, set map[string]any, name string) time.Duration {
	t.Helper()
	v, _ := set[name].(string)
	if v == "" {
		v = vars[name]
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s = %q: %v", name, v, err)
	}
	return d
}

// nginxDuration reads an nginx time such as 120s, 2m or 120 (seconds).
func nginxDuration(s string) (time.Duration, error) {
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(s)
}

// stringList is the sequence of scalars at key in m.
func stringList(m map[string]any, key string) []string {
	l, _ := m[key].([]any)
	var out []string
	for _, v := range l {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func rel(root, path string) string {
	if r, err := filepath.Rel(root, path); err == nil {
		return filepath.ToSlash(r)
	}
	return path
}
