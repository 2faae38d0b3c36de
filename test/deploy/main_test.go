// Package deploy tests what ships in deploy/ and the Dockerfile: the
// Kubernetes manifests and the Helm chart (rendered by the real Helm), decoded
// strictly into the k8s.io/api types and checked by the same tests against
// the real binary (routes, ports, variables, mounts), the compose file,
// and the container's contract without a container engine (a static binary
// serving from a read-only root as an unprivileged user).
package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/chattoken/chattoken/internal/config"
	"github.com/chattoken/chattoken/test/harness"
)

// sandboxEnv, when set, makes the test binary the container test's sandbox
// helper instead of running tests (see sandboxMain). Outside CHATTOKEN_, so
// it never reads as a chattoken variable.
const sandboxEnv = "DEPLOYTEST_SANDBOX_ROOT"

// staticVersion is what the test's build stamps with -X main.version, as the
// Dockerfile does with its VERSION build argument.
const staticVersion = "deploy-test"

// TestMain builds chattoken once, exactly as the Dockerfile does (static,
// -trimpath, the version stamped), and every test here runs that binary
// (harness.Binary), in the sandbox or not. Under -short, as for every
// package that needs the binary, nothing runs.
func TestMain(m *testing.M) {
	if os.Getenv(sandboxEnv) != "" {
		sandboxMain(os.Args[1:])
		return
	}
	harness.ExitIfShort()
	dir, err := os.MkdirTemp("", "chattoken-deploy-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	harness.Binary = filepath.Join(dir, "chattoken")
	build := exec.Command("go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags=-s -w -X main.version="+staticVersion,
		"-o", harness.Binary, "github.com/chattoken/chattoken/cmd/chattoken")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building chattoken as the Dockerfile does:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

const (
	repoRoot    = "../.."
	kubeDir     = repoRoot + "/deploy/kubernetes"
	composeFile = repoRoot + "/deploy/compose.yaml"
	nginxDir    = repoRoot + "/deploy/nginx"
	dockerfile  = repoRoot + "/Dockerfile"
)

// exampleSuffix marks a manifest that documents something an operator creates
// by hand (the keys Secret): decoded and checked, never in kustomization.yaml.
const exampleSuffix = ".example.yaml"

// scheme knows every kind of k8s.io/api the manifests may hold. A manifest of
// any other kind or API version fails to decode: register it here when one is
// added.
func scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, autoscalingv2.AddToScheme,
		policyv1.AddToScheme, networkingv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}

// decodeStrict decodes every YAML document of data into its typed object the
// way kube-apiserver does with fieldValidation=Strict: an unknown or
// duplicated field, a field in the wrong case, or an unknown kind is an error.
func decodeStrict(data []byte) ([]runtime.Object, error) {
	docs, err := documents(data)
	if err != nil {
		return nil, err
	}
	codec := strictCodec()
	objs := make([]runtime.Object, 0, len(docs))
	for i, doc := range docs {
		obj, _, err := codec.Decode(doc, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		objs = append(objs, obj)
	}
	return objs, nil
}

func strictCodec() runtime.Decoder {
	s := scheme()
	return kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, s, s,
		kjson.SerializerOptions{Yaml: true, Strict: true})
}

// documents splits a YAML stream into its documents, leaving out those that
// hold only comments.
func documents(data []byte) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if j, err := yaml.YAMLToJSON(doc); err == nil && string(j) == "null" {
			continue // only comments
		}
		docs = append(docs, doc)
	}
}

// kustomization is the part of kustomization.yaml this directory uses,
// decoded strictly so a misspelt field fails too.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Resources  []string `json:"resources"`
	Images     []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
		Digest  string `json:"digest,omitempty"`
	} `json:"images,omitempty"`
}

// kube is one source's Kubernetes manifests, decoded: deploy/kubernetes, or
// the Helm chart rendered with one set of values (helm_test.go). The checks
// of manifests_test.go take a kube, so they hold for every source alike.
type kube struct {
	name          string                      // where the manifests come from, for messages
	chart         bool                        // rendered from deploy/helm/chattoken
	files         map[string][]runtime.Object // deploy/kubernetes: file name -> its objects
	kustomization kustomization
	deployment    *appsv1.Deployment
	service       *corev1.Service
	hpa           *autoscalingv2.HorizontalPodAutoscaler
	pdb           *policyv1.PodDisruptionBudget
	netpol        *networkingv1.NetworkPolicy
	configMaps    map[string]*corev1.ConfigMap
	secrets       map[string]*corev1.Secret
	// The Prometheus Operator's objects, which only the chart renders.
	serviceMonitor *serviceMonitor
	prometheusRule *prometheusRule
}

func newKube(name string) *kube {
	return &kube{name: name, files: map[string][]runtime.Object{}, configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
}

// manifestSource is one way chattoken is shipped to Kubernetes.
type manifestSource struct {
	name string
	load func(t *testing.T) *kube
}

// manifestSources are deploy/kubernetes and the Helm chart, rendered with its
// defaults and with every option on.
var manifestSources = []manifestSource{
	{"kustomize", loadKube},
	{"helm-defaults", func(t *testing.T) *kube { return loadChart(t, "") }},
	{"helm-all-options", func(t *testing.T) *kube { return loadChart(t, allOptionsValues) }},
}

// forEachSource runs check as a subtest on the manifests of every source.
func forEachSource(t *testing.T, check func(t *testing.T, k *kube)) {
	for _, s := range manifestSources {
		t.Run(s.name, func(t *testing.T) { check(t, s.load(t)) })
	}
}

func loadKube(t *testing.T) *kube {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(kubeDir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	k := newKube("deploy/kubernetes")
	var sawKustomization bool
	for _, path := range names {
		name := filepath.Base(path)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case name == "kustomization.yaml":
			if err := yaml.UnmarshalStrict(data, &k.kustomization); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			sawKustomization = true
			continue
		case strings.HasSuffix(name, ".yaml"):
		default:
			t.Errorf("deploy/kubernetes/%s: only *.yaml manifests belong here", name)
			continue
		}
		objs, err := decodeStrict(data)
		if err != nil {
			t.Fatalf("deploy/kubernetes/%s does not decode strictly into the Kubernetes API types: %v", name, err)
		}
		if len(objs) == 0 {
			t.Errorf("deploy/kubernetes/%s holds no object", name)
		}
		k.files[name] = objs
		for _, obj := range objs {
			k.add(t, "deploy/kubernetes/"+name, obj)
		}
	}
	if !sawKustomization {
		t.Fatal("deploy/kubernetes has no kustomization.yaml")
	}
	k.requireAll(t)
	return k
}

// add files one decoded object; where names its file, for messages.
func (k *kube) add(t *testing.T, where string, obj runtime.Object) {
	t.Helper()
	switch o := obj.(type) {
	case *appsv1.Deployment:
		k.deployment = setOnce(t, k, k.deployment, o)
	case *corev1.Service:
		k.service = setOnce(t, k, k.service, o)
	case *autoscalingv2.HorizontalPodAutoscaler:
		k.hpa = setOnce(t, k, k.hpa, o)
	case *policyv1.PodDisruptionBudget:
		k.pdb = setOnce(t, k, k.pdb, o)
	case *networkingv1.NetworkPolicy:
		k.netpol = setOnce(t, k, k.netpol, o)
	case *corev1.ConfigMap:
		k.configMaps[o.Name] = o
	case *corev1.Secret:
		k.secrets[o.Name] = o
	default:
		t.Errorf("%s: unexpected %T", where, obj)
	}
}

// requireAll fails the test unless every object the checks need is there.
func (k *kube) requireAll(t *testing.T) {
	t.Helper()
	for what, missing := range map[string]bool{
		"Deployment": k.deployment == nil, "Service": k.service == nil, "HorizontalPodAutoscaler": k.hpa == nil,
		"PodDisruptionBudget": k.pdb == nil, "NetworkPolicy": k.netpol == nil,
	} {
		if missing {
			t.Errorf("%s has no %s", k.name, what)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

func setOnce[T any](t *testing.T, k *kube, have *T, v *T) *T {
	t.Helper()
	if have != nil {
		t.Errorf("%s holds two %T; the checks expect one", k.name, v)
	}
	return v
}

// container is the chattoken container of the Deployment.
func (k *kube) container(t *testing.T) *corev1.Container {
	t.Helper()
	cs := k.deployment.Spec.Template.Spec.Containers
	for i := range cs {
		if cs[i].Name == "chattoken" {
			return &cs[i]
		}
	}
	t.Fatal("the Deployment has no container named chattoken")
	return nil
}

// env resolves the chattoken container's environment as the kubelet would:
// envFrom ConfigMaps first, then env (which wins). sources says where each
// variable was set, for messages.
func (k *kube) env(t *testing.T) (env map[string]string, sources map[string][]string) {
	t.Helper()
	c := k.container(t)
	env, sources = map[string]string{}, map[string][]string{}
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			cm := k.configMaps[from.ConfigMapRef.Name]
			if cm == nil {
				t.Fatalf("envFrom names ConfigMap %q, which %s does not define", from.ConfigMapRef.Name, k.name)
			}
			for name, v := range cm.Data {
				env[from.Prefix+name] = v
				sources[from.Prefix+name] = append(sources[from.Prefix+name], "ConfigMap "+cm.Name)
			}
		default:
			t.Fatalf("envFrom %+v: only ConfigMaps of %s are expected", from, k.name)
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			cm := k.configMaps[ref.Name]
			if cm == nil {
				t.Fatalf("%s reads ConfigMap %q, which %s does not define", e.Name, ref.Name, k.name)
			}
			v, ok := cm.Data[ref.Key]
			if !ok {
				t.Fatalf("%s reads key %q that ConfigMap %s lacks", e.Name, ref.Key, ref.Name)
			}
			env[e.Name] = v
		default:
			t.Fatalf("%s: valueFrom %+v is not resolved by this test", e.Name, e.ValueFrom)
		}
		sources[e.Name] = append(sources[e.Name], "env")
	}
	return env, sources
}

// knownVariables are the CHATTOKEN_ variables chattoken reads: the env tags of
// config.Config (with config.Prefix), which is where every variable is
// defined, and what docs/configuration.md documents (see
// TestConfigurationDocListsEveryVariable).
func knownVariables() map[string]bool {
	known := map[string]bool{}
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag, ok := f.Tag.Lookup("env")
			if !ok {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			name = strings.TrimSpace(name)
			if f.Type.Kind() == reflect.Struct && name == "" {
				// A nested struct: envconfig's prefix= option, if any.
				p := ""
				for o := range strings.SplitSeq(opts, ",") {
					if v, ok := strings.CutPrefix(strings.TrimSpace(o), "prefix="); ok {
						p = v
					}
				}
				walk(f.Type, prefix+p)
				continue
			}
			if name != "" {
				known[config.Prefix+prefix+name] = true
			}
		}
	}
	walk(reflect.TypeFor[config.Config](), "")
	return known
}

// checkVariable fails the test unless name is a variable chattoken reads:
// a CHATTOKEN_ one of config.Config, or a standard OTEL_ one.
func checkVariable(t *testing.T, known map[string]bool, where, name string) {
	t.Helper()
	switch {
	case known[name]:
	case strings.HasPrefix(name, "OTEL_"):
		// The standard OpenTelemetry variables (docs/configuration.md, OpenTelemetry).
	case strings.HasPrefix(name, config.Prefix):
		t.Errorf("%s sets %s, which chattoken does not read (a typo?); known: %s", where, name, strings.Join(sortedKeys(known), ", "))
	default:
		t.Errorf("%s sets %s: only CHATTOKEN_ variables configure chattoken", where, name)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
