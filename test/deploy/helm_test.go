package deploy

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/chattoken/chattoken/test/harness"
)

const (
	chartDir   = repoRoot + "/deploy/helm/chattoken"
	alertsFile = repoRoot + "/deploy/prometheus/alerts.yaml"
	// allOptionsValues sets every value of the chart away from its default
	// (TestAllOptionsValuesSetEveryValue checks it).
	allOptionsValues = "testdata/helm-all-options.yaml"
	// helmPackage is Helm's CLI at the version `make lint` runs, built from
	// the Go module proxy: not a dependency of this module, whose go.mod
	// would otherwise pull in the Kubernetes client libraries.
	helmPackage = "helm.sh/helm/v4/cmd/helm@v4.3.2"
)

// helmBinary builds Helm once per test process. `go run -exec echo` builds
// it (from the module proxy the first time, from Go's build cache after) and
// prints where the executable is instead of running it, so each helm call
// below takes a fraction of a second rather than go run's start-up.
var helmBinary = sync.OnceValues(func() (string, error) {
	cmd := exec.Command("go", "run", "-exec=echo", helmPackage)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go run %s: %v: %s", helmPackage, err, lastLines(stderr.String(), 5))
	}
	path := strings.TrimSpace(string(out))
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("go run %s left no executable in the build cache: %v", helmPackage, err)
	}
	return path, nil
})

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// helm runs Helm's CLI in the repository's root, with its cache and
// configuration in a fresh directory so nothing of this machine's Helm set-up
// plays a part. Without Go's module proxy, Helm cannot be built: the test
// skips through harness.MissingTool (and fails under CI=true).
func helm(t *testing.T, args ...string) (stdout []byte, stderr string, err error) {
	t.Helper()
	bin, err := helmBinary()
	if err != nil {
		harness.MissingTool(t, "helm", "cannot be built here: "+err.Error())
	}
	home := t.TempDir()
	cmd := exec.Command(bin, args...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"))
	var errBuf bytes.Buffer
	cmd.Stderr = &errBuf
	stdout, err = cmd.Output()
	return stdout, errBuf.String(), err
}

// chartArgs are the arguments naming the chart and the values file (none:
// the defaults), relative to the repository's root where helm runs.
func chartArgs(t *testing.T, values string) []string {
	t.Helper()
	args := []string{strings.TrimPrefix(chartDir, repoRoot+"/")}
	if values != "" {
		abs, err := filepath.Abs(values)
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, "--values", abs)
	}
	return args
}

// render is `helm template` of the chart with values and extra arguments
// (--set ...), failing the test when Helm refuses.
func render(t *testing.T, values string, extra ...string) []byte {
	t.Helper()
	out, stderr, err := renderErr(t, values, extra...)
	if err != nil {
		t.Fatalf("helm template %s %s: %v\n%s", cmp.Or(values, "(defaults)"), strings.Join(extra, " "), err, stderr)
	}
	return out
}

// renderErr renders as release "chattoken", which names every object as
// deploy/kubernetes does, or "shop" (shop-chattoken) with the all-options
// values, so that the checks also see names derived from the release.
func renderErr(t *testing.T, values string, extra ...string) ([]byte, string, error) {
	t.Helper()
	release := "chattoken"
	if values == allOptionsValues {
		release = "shop"
	}
	args := append([]string{"template", release}, chartArgs(t, values)...)
	return helm(t, append(append(args, "--namespace", "shop"), extra...)...)
}

// renders keeps each values file's rendering for the test process: every
// test of manifests_test.go loads the same two.
var renders = struct {
	sync.Mutex
	out map[string][]byte
}{out: map[string][]byte{}}

// loadChart is the chart rendered with values ("": the defaults), decoded
// strictly, holding every object the checks need.
func loadChart(t *testing.T, values string) *kube {
	t.Helper()
	renders.Lock()
	out, ok := renders.out[values]
	renders.Unlock()
	if !ok {
		out = render(t, values)
		renders.Lock()
		renders.out[values] = out
		renders.Unlock()
	}
	k := decodeChart(t, values, out)
	k.requireAll(t)
	return k
}

var (
	monitoringV1   = schema.GroupVersion{Group: "monitoring.coreos.com", Version: "v1"}
	templateSource = regexp.MustCompile(`(?m)^# Source: (\S+)`)
)

// decodeChart decodes helm template's output: the Kubernetes objects
// strictly into the k8s.io/api types, the Prometheus Operator's, whose types
// are not there, strictly into the local structs below.
func decodeChart(t *testing.T, values string, out []byte) *kube {
	t.Helper()
	k := newKube("the chart with " + cmp.Or(values, "its defaults"))
	k.chart = true
	docs, err := documents(out)
	if err != nil {
		t.Fatalf("%s: helm template's output is not YAML: %v", k.name, err)
	}
	codec := strictCodec()
	for _, doc := range docs {
		where := "a document without # Source"
		if m := templateSource.FindSubmatch(doc); m != nil {
			where = string(m[1])
		}
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatalf("%s (%s): %v", where, k.name, err)
		}
		switch meta.GroupVersionKind() {
		case monitoringV1.WithKind("ServiceMonitor"):
			k.serviceMonitor = setOnce(t, k, k.serviceMonitor, decodeMonitoring[serviceMonitor](t, where, doc))
		case monitoringV1.WithKind("PrometheusRule"):
			k.prometheusRule = setOnce(t, k, k.prometheusRule, decodeMonitoring[prometheusRule](t, where, doc))
		default:
			obj, _, err := codec.Decode(doc, nil, nil)
			if err != nil {
				t.Fatalf("%s (%s) does not decode strictly into the Kubernetes API types: %v", where, k.name, err)
			}
			k.add(t, where, obj)
		}
	}
	return k
}

// monitoringObject is the envelope every Prometheus Operator object shares.
type monitoringObject struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta `json:"metadata"`
}

// serviceMonitor is the part of monitoring.coreos.com/v1 ServiceMonitor the
// chart uses; a field outside it is a mistake in the template.
type serviceMonitor struct {
	monitoringObject `json:",inline"`
	Spec             struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path,omitempty"`
			Interval      string `json:"interval,omitempty"`
			ScrapeTimeout string `json:"scrapeTimeout,omitempty"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// prometheusRule is monitoring.coreos.com/v1 PrometheusRule, whose spec is a
// Prometheus rule file.
type prometheusRule struct {
	monitoringObject `json:",inline"`
	Spec             ruleFile `json:"spec"`
}

// ruleFile is a Prometheus rule file: deploy/prometheus/alerts.yaml, and the
// spec of the PrometheusRule.
type ruleFile struct {
	Groups []struct {
		Name     string `json:"name"`
		Interval string `json:"interval,omitempty"`
		Rules    []struct {
			Alert       string            `json:"alert,omitempty"`
			Record      string            `json:"record,omitempty"`
			Expr        string            `json:"expr"`
			For         string            `json:"for,omitempty"`
			Labels      map[string]string `json:"labels,omitempty"`
			Annotations map[string]string `json:"annotations,omitempty"`
		} `json:"rules"`
	} `json:"groups"`
}

// meta is promoted to every Prometheus Operator object, for decodeMonitoring.
func (o *monitoringObject) meta() *metav1.ObjectMeta { return &o.Metadata }

func decodeMonitoring[T any, PT interface {
	*T
	meta() *metav1.ObjectMeta
}](t *testing.T, where string, doc []byte) PT {
	t.Helper()
	v := PT(new(T))
	if err := yaml.UnmarshalStrict(doc, v); err != nil {
		t.Fatalf("%s does not decode strictly: %v", where, err)
	}
	if v.meta().Name == "" {
		t.Fatalf("%s has no metadata.name", where)
	}
	return v
}

// chartValues are the chart's values, decoded strictly from values.yaml and
// the all-options file: a value added to the chart must be added here too,
// and so to TestChartValuesReachTheManifests.
type chartValues struct {
	Image struct {
		Repository string `json:"repository"`
		Tag        string `json:"tag"`
		Digest     string `json:"digest"`
		PullPolicy string `json:"pullPolicy"`
	} `json:"image"`
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets"`
	ReplicaCount     int32                         `json:"replicaCount"`
	Keys             struct {
		ExistingSecret string `json:"existingSecret"`
	} `json:"keys"`
	ContextSchema                 string                      `json:"contextSchema"`
	Env                           map[string]string           `json:"env"`
	ShutdownDelay                 string                      `json:"shutdownDelay"`
	TerminationGracePeriodSeconds int64                       `json:"terminationGracePeriodSeconds"`
	Resources                     corev1.ResourceRequirements `json:"resources"`
	Autoscaling                   struct {
		Enabled                             bool  `json:"enabled"`
		MinReplicas                         int32 `json:"minReplicas"`
		MaxReplicas                         int32 `json:"maxReplicas"`
		TargetCPUUtilizationPercentage      int32 `json:"targetCPUUtilizationPercentage"`
		ScaleDownStabilizationWindowSeconds int32 `json:"scaleDownStabilizationWindowSeconds"`
	} `json:"autoscaling"`
	PodDisruptionBudget struct {
		Enabled bool `json:"enabled"`
	} `json:"podDisruptionBudget"`
	NetworkPolicy struct {
		Enabled     bool                                   `json:"enabled"`
		APIFrom     []networkingv1.NetworkPolicyPeer       `json:"apiFrom"`
		MetricsFrom []networkingv1.NetworkPolicyPeer       `json:"metricsFrom"`
		Egress      []networkingv1.NetworkPolicyEgressRule `json:"egress"`
	} `json:"networkPolicy"`
	ServiceMonitor struct {
		Enabled       bool              `json:"enabled"`
		Interval      string            `json:"interval"`
		ScrapeTimeout string            `json:"scrapeTimeout"`
		Labels        map[string]string `json:"labels"`
	} `json:"serviceMonitor"`
	PrometheusRule struct {
		Enabled bool              `json:"enabled"`
		Labels  map[string]string `json:"labels"`
	} `json:"prometheusRule"`
	PodAnnotations    map[string]string   `json:"podAnnotations"`
	NodeSelector      map[string]string   `json:"nodeSelector"`
	Tolerations       []corev1.Toleration `json:"tolerations"`
	PriorityClassName string              `json:"priorityClassName"`
}

func readValues(t *testing.T, path string) (typed chartValues, raw map[string]any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, &typed); err != nil {
		t.Fatalf("%s does not decode strictly into chartValues (a value this test does not know?): %v", path, err)
	}
	if err := yaml.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	return typed, raw
}

// TestChartLint runs `helm lint --strict` (warnings fail too) with the
// defaults and with every option on.
func TestChartLint(t *testing.T) {
	for name, values := range map[string]string{"defaults": "", "all-options": allOptionsValues} {
		t.Run(name, func(t *testing.T) {
			out, stderr, err := helm(t, append([]string{"lint", "--strict"}, chartArgs(t, values)...)...)
			if err != nil {
				t.Fatalf("helm lint: %v\n%s%s", err, out, stderr)
			}
			for _, bad := range []string{"[WARNING]", "[ERROR]"} {
				if bytes.Contains(out, []byte(bad)) {
					t.Errorf("helm lint reports a %s:\n%s", bad, out)
				}
			}
		})
	}
}

// TestAllOptionsValuesSetEveryValue keeps the all-options file complete:
// every value of values.yaml is set there, and to something else than its
// default unless that is already `true` (an option on). Objects are followed
// down to their values, except env, whose variables Helm merges with the
// defaults: it is one value, set when it differs.
func TestAllOptionsValuesSetEveryValue(t *testing.T) {
	_, defaults := readValues(t, filepath.Join(chartDir, "values.yaml"))
	_, all := readValues(t, allOptionsValues)
	var walk func(path string, def, set map[string]any)
	walk = func(path string, def, set map[string]any) {
		for _, key := range sortedKeys(def) {
			d := def[key]
			s, ok := set[key]
			switch dm, isMap := d.(map[string]any); {
			case !ok:
				t.Errorf("%s does not set %s%s", allOptionsValues, path, key)
			case isMap && len(dm) > 0 && key != "env":
				sm, _ := s.(map[string]any)
				walk(path+key+".", dm, sm)
			case d == true:
			case reflect.DeepEqual(d, s):
				t.Errorf("%s sets %s%s to its default %v: set something else, so the rendering shows where it goes", allOptionsValues, path, key, s)
			}
		}
	}
	walk("", defaults, all)
}

// TestChartValuesReachTheManifests renders the all-options values and finds
// each value where it belongs in the manifests.
func TestChartValuesReachTheManifests(t *testing.T) {
	v, _ := readValues(t, allOptionsValues)
	defaults, _ := readValues(t, filepath.Join(chartDir, "values.yaml"))
	k := loadChart(t, allOptionsValues)
	pod := k.deployment.Spec.Template.Spec
	c := k.container(t)
	env, _ := k.env(t)
	check := func(what string, got, want any) {
		t.Helper()
		if !equality.Semantic.DeepEqual(got, want) {
			t.Errorf("%s: rendered %+v; the values set %+v", what, got, want)
		}
	}

	// The digest wins over the tag: the exact bytes.
	check("image", c.Image, v.Image.Repository+"@"+v.Image.Digest)
	check("image.pullPolicy", string(c.ImagePullPolicy), v.Image.PullPolicy)
	check("imagePullSecrets", pod.ImagePullSecrets, v.ImagePullSecrets)
	check("keys.existingSecret", volumeNamed(t, k, mountOf(c, env["CHATTOKEN_SIGNING_KEY_FILE"]).Name).Secret.SecretName, v.Keys.ExistingSecret)

	schemaMount := mountOf(c, env["CHATTOKEN_CONTEXT_FILE"])
	schemaVol := volumeNamed(t, k, schemaMount.Name).ConfigMap
	rel, _ := filepath.Rel(schemaMount.MountPath, env["CHATTOKEN_CONTEXT_FILE"])
	key := rel
	for _, it := range schemaVol.Items {
		if it.Path == rel {
			key = it.Key
		}
	}
	check("contextSchema", strings.TrimSpace(k.configMaps[schemaVol.Name].Data[key]), strings.TrimSpace(v.ContextSchema))

	// Helm merges env with the defaults: the ConfigMap holds both.
	wantEnv := maps.Clone(defaults.Env)
	maps.Copy(wantEnv, v.Env)
	check("env", k.configMaps[c.EnvFrom[0].ConfigMapRef.Name].Data, wantEnv)
	check("shutdownDelay", env["CHATTOKEN_SHUTDOWN_DELAY"], v.ShutdownDelay)
	check("terminationGracePeriodSeconds", *pod.TerminationGracePeriodSeconds, v.TerminationGracePeriodSeconds)
	check("resources", c.Resources, v.Resources)

	h := k.hpa.Spec
	check("autoscaling.minReplicas", *h.MinReplicas, v.Autoscaling.MinReplicas)
	check("autoscaling.maxReplicas", h.MaxReplicas, v.Autoscaling.MaxReplicas)
	check("autoscaling.targetCPUUtilizationPercentage", *h.Metrics[0].Resource.Target.AverageUtilization, v.Autoscaling.TargetCPUUtilizationPercentage)
	check("autoscaling.scaleDownStabilizationWindowSeconds", *h.Behavior.ScaleDown.StabilizationWindowSeconds, v.Autoscaling.ScaleDownStabilizationWindowSeconds)

	from := map[int32][]networkingv1.NetworkPolicyPeer{}
	for _, rule := range k.netpol.Spec.Ingress {
		for _, p := range rule.Ports {
			from[resolvePort(c, *p.Port)] = rule.From
		}
	}
	check("networkPolicy.apiFrom", from[containerPort(t, c, "http")], v.NetworkPolicy.APIFrom)
	check("networkPolicy.metricsFrom", from[containerPort(t, c, "metrics")], v.NetworkPolicy.MetricsFrom)
	// The DNS rule comes first, then the values' rules.
	egress := k.netpol.Spec.Egress
	check("networkPolicy.egress", egress[len(egress)-len(v.NetworkPolicy.Egress):], v.NetworkPolicy.Egress)

	if k.serviceMonitor == nil || k.prometheusRule == nil {
		t.Fatal("serviceMonitor.enabled and prometheusRule.enabled render no ServiceMonitor or no PrometheusRule")
	}
	e := k.serviceMonitor.Spec.Endpoints[0]
	check("serviceMonitor.interval", e.Interval, v.ServiceMonitor.Interval)
	check("serviceMonitor.scrapeTimeout", e.ScrapeTimeout, v.ServiceMonitor.ScrapeTimeout)
	checkSubset(t, "serviceMonitor.labels", k.serviceMonitor.Metadata.Labels, v.ServiceMonitor.Labels)
	checkSubset(t, "prometheusRule.labels", k.prometheusRule.Metadata.Labels, v.PrometheusRule.Labels)
	checkSubset(t, "podAnnotations", k.deployment.Spec.Template.Annotations, v.PodAnnotations)
	check("nodeSelector", pod.NodeSelector, v.NodeSelector)
	check("tolerations", pod.Tolerations, v.Tolerations)
	check("priorityClassName", pod.PriorityClassName, v.PriorityClassName)
	// replicaCount: TestChartOptionalObjects, where no autoscaler owns the count.
}

func checkSubset(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for name, value := range want {
		if got[name] != value {
			t.Errorf("%s: %s=%q is not in the rendered %v", what, name, value, got)
		}
	}
}

// TestChartOptionalObjects: the defaults render what deploy/kubernetes holds
// and no Prometheus Operator object (a cluster without its CRDs would refuse
// them); turned off, the HorizontalPodAutoscaler, PodDisruptionBudget and
// NetworkPolicy are gone and the Deployment then sets replicaCount.
func TestChartOptionalObjects(t *testing.T) {
	k := loadChart(t, "")
	if k.serviceMonitor != nil || k.prometheusRule != nil {
		t.Error("the defaults render a ServiceMonitor or a PrometheusRule: they need the Prometheus Operator's CRDs, so they are opt-in")
	}
	if k.deployment.Spec.Replicas != nil {
		t.Errorf("replicas %d with the autoscaler on: every upgrade would reset the count the autoscaler chose", *k.deployment.Spec.Replicas)
	}

	v, _ := readValues(t, allOptionsValues)
	off := decodeChart(t, allOptionsValues, render(t, allOptionsValues, "--set",
		"autoscaling.enabled=false,podDisruptionBudget.enabled=false,networkPolicy.enabled=false,serviceMonitor.enabled=false,prometheusRule.enabled=false"))
	if off.hpa != nil || off.pdb != nil || off.netpol != nil || off.serviceMonitor != nil || off.prometheusRule != nil {
		t.Errorf("with every optional object off the chart still renders HPA %v, PDB %v, NetworkPolicy %v, ServiceMonitor %v, PrometheusRule %v",
			off.hpa != nil, off.pdb != nil, off.netpol != nil, off.serviceMonitor != nil, off.prometheusRule != nil)
	}
	if r := off.deployment.Spec.Replicas; r == nil || *r != v.ReplicaCount {
		t.Errorf("without the autoscaler replicas is %v; replicaCount is %d", r, v.ReplicaCount)
	}
}

// TestChartRollsOutOnConfigChange: the environment and the context schema
// are read at start, so changing either must change the pod template, which
// makes `helm upgrade` roll the pods out; each change moves its own checksum.
func TestChartRollsOutOnConfigChange(t *testing.T) {
	base := loadChart(t, "").deployment.Spec.Template.Annotations
	for _, c := range []struct {
		set            []string
		changes, keeps string
	}{
		{[]string{"--set-string", "env.CHATTOKEN_LOG_LEVEL=debug"}, "checksum/env", "checksum/context"},
		{[]string{"--set-json", `contextSchema="{\"variables\": {}}"`}, "checksum/context", "checksum/env"},
	} {
		t.Run(c.changes, func(t *testing.T) {
			got := decodeChart(t, "", render(t, "", c.set...)).deployment.Spec.Template.Annotations
			if base[c.changes] == "" || got[c.changes] == base[c.changes] {
				t.Errorf("%s leaves the pod template's %s at %q: upgrading would not restart the pods", c.set, c.changes, got[c.changes])
			}
			if got[c.keeps] != base[c.keeps] {
				t.Errorf("%s also changes %s", c.set, c.keeps)
			}
		})
	}
}

// TestChartRefusesBadValues: values that would make a broken or unsafe
// deployment fail `helm install` with a message naming them, instead of
// rendering (the schema's additionalProperties, patterns and minimums, and
// the templates' own checks).
func TestChartRefusesBadValues(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"key material in values", []string{"--set", "keys.privateKey=-----BEGIN PRIVATE KEY-----"}, "privateKey"},
		{"a misspelt value", []string{"--set", "autoscalling.enabled=false"}, "autoscalling"},
		{"no keys Secret", []string{"--set", "keys.existingSecret="}, "existingSecret"},
		{"a variable set from the pod layout", []string{"--set", "env.CHATTOKEN_SIGNING_KEY_FILE=/tmp/key.pem"}, "env.CHATTOKEN_SIGNING_KEY_FILE"},
		{"a variable outside CHATTOKEN_ and OTEL_", []string{"--set", "env.LOG_LEVEL=debug"}, "LOG_LEVEL"},
		{"a number for a variable", []string{"--set", "env.CHATTOKEN_RATE_LIMIT_SUBJECT=120"}, "CHATTOKEN_RATE_LIMIT_SUBJECT"},
		{"a schema that is not JSON", []string{"--set-string", "contextSchema=variables: {}"}, "contextSchema is not JSON"},
		{"the latest tag", []string{"--set", "image.tag=latest"}, "tag"},
		{"one replica", []string{"--set", "replicaCount=1"}, "replicaCount"},
		{"the API open to every peer", []string{"--set", "networkPolicy.apiFrom=null"}, "networkPolicy.apiFrom"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, stderr, err := renderErr(t, "", c.args...)
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("helm template %s renders (error %v):\n%s", strings.Join(c.args, " "), err, lastLines(string(out), 5))
			}
			if !strings.Contains(stderr, c.want) {
				t.Errorf("helm template %s fails without naming %q:\n%s", strings.Join(c.args, " "), c.want, stderr)
			}
		})
	}
}

// TestChartPrometheusRuleIsTheAlertsFile: the PrometheusRule carries exactly
// the groups of deploy/prometheus/alerts.yaml (which promtool tests), from
// the chart's copy of it.
func TestChartPrometheusRuleIsTheAlertsFile(t *testing.T) {
	data, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var want ruleFile
	if err := yaml.UnmarshalStrict(data, &want); err != nil {
		t.Fatalf("%s does not decode strictly as a rule file: %v", alertsFile, err)
	}
	if len(want.Groups) == 0 {
		t.Fatalf("%s holds no rule group", alertsFile)
	}
	k := loadChart(t, allOptionsValues)
	if k.prometheusRule == nil {
		t.Fatal("prometheusRule.enabled renders no PrometheusRule")
	}
	if !reflect.DeepEqual(k.prometheusRule.Spec, want) {
		got, _ := yaml.Marshal(k.prometheusRule.Spec)
		file, _ := yaml.Marshal(want)
		t.Errorf("the chart's PrometheusRule differs from %s (cp deploy/prometheus/alerts.yaml deploy/helm/chattoken/files/alerts.yaml): %s",
			alertsFile, firstDifference(string(got), string(file)))
	}
}

// firstDifference is the first line where two texts differ, with its number.
func firstDifference(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d is\n\t%s\nnot\n\t%s", i+1, gl, wl)
		}
	}
	return "no line differs"
}
