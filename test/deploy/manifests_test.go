package deploy

import (
	"cmp"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/chattoken/chattoken/test/harness"
)

// TestManifestsDecodeStrictly decodes every manifest (loadKube fails on any
// error) and shows that the decoding would catch a mistake: each mutation of
// the real deployment.yaml below must fail to decode.
func TestManifestsDecodeStrictly(t *testing.T) {
	k := loadKube(t)
	for name, objs := range k.files {
		t.Logf("%s: %d object(s), %s", name, len(objs), kinds(objs))
	}

	src, err := os.ReadFile(filepath.Join(kubeDir, "deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeStrict(src); err != nil {
		t.Fatalf("deployment.yaml itself: %v", err)
	}
	for _, c := range []struct {
		name, from, to, want string
	}{
		{"misspelt field", "\n  replicas: 2\n", "\n  replcas: 2\n", `unknown field "spec.replcas"`},
		{"field in the wrong case", "readOnlyRootFilesystem: true", "readOnlyRootFileSystem: true", "readOnlyRootFileSystem"},
		{"misspelt defaultMode (would leave the keys 0644)", "defaultMode: 0440", "defaultmode: 0440", "defaultmode"},
		{"nested unknown field", "containerPort: 8080", "containerPort: 8080\n              hostPortt: 8080", "hostPortt"},
		{"duplicate field", "\n  replicas: 2\n", "\n  replicas: 2\n  replicas: 3\n", "replicas"},
		{"unknown API version", "apiVersion: apps/v1\n", "apiVersion: apps/v1beta0\n", "apps/v1beta0"},
		{"wrong type", "\n  replicas: 2\n", "\n  replicas: two\n", "replicas"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(string(src), c.from) {
				t.Fatalf("deployment.yaml no longer contains %q: update this case", c.from)
			}
			_, err := decodeStrict([]byte(strings.Replace(string(src), c.from, c.to, 1)))
			if err == nil {
				t.Fatalf("replacing %q by %q still decodes: the strict decoding is not strict", c.from, c.to)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("the error does not name %q: %v", c.want, err)
			}
		})
	}
}

func kinds(objs []runtime.Object) string {
	var ks []string
	for _, o := range objs {
		ks = append(ks, fmt.Sprintf("%T", o))
	}
	return strings.Join(ks, ", ")
}

func TestKustomizationListsEveryManifest(t *testing.T) {
	k := loadKube(t)
	kz := k.kustomization
	if kz.APIVersion != "kustomize.config.k8s.io/v1beta1" || kz.Kind != "Kustomization" {
		t.Errorf("kustomization.yaml is %s %s", kz.APIVersion, kz.Kind)
	}
	listed := map[string]bool{}
	for _, r := range kz.Resources {
		if listed[r] {
			t.Errorf("kustomization.yaml lists %s twice", r)
		}
		listed[r] = true
		if _, ok := k.files[r]; !ok {
			t.Errorf("kustomization.yaml lists %s, which is not a manifest of deploy/kubernetes", r)
		}
		if strings.HasSuffix(r, exampleSuffix) {
			t.Errorf("kustomization.yaml lists %s: an example must never be applied (it would replace the real keys)", r)
		}
	}
	for name := range k.files {
		if !strings.HasSuffix(name, exampleSuffix) && !listed[name] {
			t.Errorf("deploy/kubernetes/%s is not listed in kustomization.yaml's resources", name)
		}
	}
	image := k.container(t).Image
	found := false
	for _, img := range kz.Images {
		if img.Name == imageName(image) {
			found = true
		}
		if img.NewTag == "latest" || (img.NewTag == "" && img.Digest == "") {
			t.Errorf("kustomization.yaml image %s: a version tag or a digest, never latest", img.Name)
		}
	}
	if !found {
		t.Errorf("kustomization.yaml's images do not set the Deployment's image %q", imageName(image))
	}
}

func TestDeployment(t *testing.T) { forEachSource(t, testDeployment) }

func testDeployment(t *testing.T, k *kube) {
	d := k.deployment
	pod := d.Spec.Template.Spec
	c := k.container(t)
	env, sources := k.env(t)

	t.Run("trusted proxies are the proxy's own addresses", func(t *testing.T) {
		// A whole private range would let any pod in it forge client
		// addresses and, in header mode, identities.
		for item := range strings.SplitSeq(env["CHATTOKEN_TRUSTED_PROXIES"], ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			if !strings.Contains(item, "/") {
				continue // a single address
			}
			p, err := netip.ParsePrefix(item)
			if err != nil {
				t.Fatalf("CHATTOKEN_TRUSTED_PROXIES item %q: %v", item, err)
			}
			if p.Addr().BitLen()-p.Bits() > 8 {
				t.Errorf("CHATTOKEN_TRUSTED_PROXIES trusts %s, more than 256 addresses: list the ingress controller's own addresses", p)
			}
		}
	})

	t.Run("replicas", func(t *testing.T) {
		// Unset replicas leave the count to the HorizontalPodAutoscaler, so
		// that applying the manifests again does not reset what it chose.
		switch {
		case d.Spec.Replicas != nil && *d.Spec.Replicas < 2:
			t.Errorf("replicas %d: at least 2, so one pod can go while another serves", *d.Spec.Replicas)
		case d.Spec.Replicas == nil && k.hpa == nil:
			t.Error("replicas is unset and no HorizontalPodAutoscaler sets the count: one pod")
		}
		if !selects(d.Spec.Selector, d.Spec.Template.Labels) {
			t.Errorf("the selector %v does not select the pod template's labels %v", d.Spec.Selector, d.Spec.Template.Labels)
		}
		spread := false
		for _, tsc := range pod.TopologySpreadConstraints {
			spread = spread || selects(tsc.LabelSelector, d.Spec.Template.Labels)
		}
		if a := pod.Affinity; a != nil && a.PodAntiAffinity != nil {
			for _, term := range a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
				spread = spread || selects(term.PodAffinityTerm.LabelSelector, d.Spec.Template.Labels)
			}
			for _, term := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
				spread = spread || selects(term.LabelSelector, d.Spec.Template.Labels)
			}
		}
		if !spread {
			t.Error("no topologySpreadConstraints or podAntiAffinity spreads the replicas (selecting the pod's own labels)")
		}
	})

	t.Run("image", func(t *testing.T) {
		checkImage(t, "the Deployment", c.Image)
		if len(c.Command) != 0 {
			t.Errorf("command %q replaces the image's ENTRYPOINT; set args only", c.Command)
		}
		if !slices.Equal(c.Args, []string{"serve"}) {
			t.Errorf("args %q; want [serve]", c.Args)
		}
	})

	t.Run("ports and probes", func(t *testing.T) {
		httpPort := containerPort(t, c, "http")
		if p := portOfAddr(t, "CHATTOKEN_ADDR", env["CHATTOKEN_ADDR"], ":8080"); p != httpPort {
			t.Errorf("CHATTOKEN_ADDR listens on %d but the http container port is %d", p, httpPort)
		}
		metricsPort := containerPort(t, c, "metrics")
		if p := portOfAddr(t, "CHATTOKEN_METRICS_ADDR", env["CHATTOKEN_METRICS_ADDR"], ":9090"); p != metricsPort {
			t.Errorf("CHATTOKEN_METRICS_ADDR listens on %d but the metrics container port is %d", p, metricsPort)
		}
		for name, probe := range map[string]*corev1.Probe{"readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe, "startupProbe": c.StartupProbe} {
			if probe == nil {
				if name != "startupProbe" {
					t.Errorf("no %s", name)
				}
				continue
			}
			if probe.HTTPGet == nil {
				t.Errorf("%s is not an httpGet probe", name)
				continue
			}
			if p := resolvePort(c, probe.HTTPGet.Port); p != httpPort {
				t.Errorf("%s probes port %s (%d), not the http container port %d", name, probe.HTTPGet.Port.String(), p, httpPort)
			}
			if probe.HTTPGet.Scheme != "" && probe.HTTPGet.Scheme != corev1.URISchemeHTTP {
				t.Errorf("%s uses %s; chattoken serves plain HTTP", name, probe.HTTPGet.Scheme)
			}
		}
		if c.ReadinessProbe != nil && c.ReadinessProbe.HTTPGet != nil && c.ReadinessProbe.HTTPGet.Path != "/readyz" {
			t.Errorf("readinessProbe path %s; want /readyz, which answers 503 once shutdown begins", c.ReadinessProbe.HTTPGet.Path)
		}
		if c.LivenessProbe != nil && c.LivenessProbe.HTTPGet != nil && c.LivenessProbe.HTTPGet.Path != "/healthz" {
			t.Errorf("livenessProbe path %s; want /healthz (a liveness probe on /readyz would kill pods that are draining)", c.LivenessProbe.HTTPGet.Path)
		}
	})

	t.Run("shutdown", func(t *testing.T) {
		delay, err := time.ParseDuration(env["CHATTOKEN_SHUTDOWN_DELAY"])
		if err != nil || delay <= 0 {
			t.Fatalf("CHATTOKEN_SHUTDOWN_DELAY %q: set a few seconds, so endpoints drain before the listener closes", env["CHATTOKEN_SHUTDOWN_DELAY"])
		}
		// The service drains in-flight requests for at most 10s after the delay
		// (cmd/chattoken drainTimeout).
		const drain = 10 * time.Second
		grace := pod.TerminationGracePeriodSeconds
		if grace == nil {
			t.Fatalf("no terminationGracePeriodSeconds: set it above CHATTOKEN_SHUTDOWN_DELAY (%s) + %s of draining", delay, drain)
		}
		if time.Duration(*grace)*time.Second <= delay+drain {
			t.Errorf("terminationGracePeriodSeconds %d must exceed CHATTOKEN_SHUTDOWN_DELAY (%s) + %s of draining", *grace, delay, drain)
		}
	})

	t.Run("security context", func(t *testing.T) {
		psc, sc := pod.SecurityContext, c.SecurityContext
		if psc == nil || sc == nil {
			t.Fatal("the pod and the container both need a securityContext")
		}
		runAsNonRoot := (sc.RunAsNonRoot != nil && *sc.RunAsNonRoot) || (sc.RunAsNonRoot == nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot)
		if !runAsNonRoot {
			t.Error("runAsNonRoot is not true")
		}
		uid, gid := effectiveIDs(pod, c)
		if uid != 65532 || gid != 65532 {
			t.Errorf("runs as %d:%d; want 65532:65532 (distroless nonroot, the image's USER)", uid, gid)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Error("readOnlyRootFilesystem is not true")
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Error("allowPrivilegeEscalation is not false")
		}
		if sc.Privileged != nil && *sc.Privileged {
			t.Error("privileged")
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) != 0 {
			t.Errorf("capabilities %+v: drop ALL, add none", sc.Capabilities)
		}
		seccomp := sc.SeccompProfile
		if seccomp == nil {
			seccomp = psc.SeccompProfile
		}
		if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("seccompProfile %+v; want RuntimeDefault", seccomp)
		}
		if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
			t.Error("automountServiceAccountToken is not false: chattoken never calls the Kubernetes API")
		}
		if pod.HostNetwork || pod.HostPID || pod.HostIPC {
			t.Error("the pod shares a host namespace")
		}
	})

	t.Run("resources", func(t *testing.T) {
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, lim := c.Resources.Requests[r], c.Resources.Limits[r]
			if req.IsZero() || lim.IsZero() {
				t.Errorf("%s: requests %s, limits %s; set both", r, req.String(), lim.String())
			} else if req.Cmp(lim) > 0 {
				t.Errorf("%s: request %s above limit %s", r, req.String(), lim.String())
			}
		}
		if mem := c.Resources.Limits[corev1.ResourceMemory]; !mem.IsZero() && mem.Cmp(resource.MustParse("32Mi")) < 0 {
			t.Errorf("memory limit %s is too small for a Go service", mem.String())
		}
	})

	t.Run("keys from the Secret", func(t *testing.T) {
		keyPath := env["CHATTOKEN_SIGNING_KEY_FILE"]
		m := mountOf(c, keyPath)
		if m == nil {
			t.Fatalf("CHATTOKEN_SIGNING_KEY_FILE %q is not inside any volume mount", keyPath)
		}
		vol := volumeNamed(t, k, m.Name)
		if vol.Secret == nil {
			t.Fatalf("CHATTOKEN_SIGNING_KEY_FILE %q is in volume %s, which is not a Secret", keyPath, m.Name)
		}
		if filepath.Clean(keyPath) != filepath.Clean(m.MountPath) {
			t.Errorf("CHATTOKEN_SIGNING_KEY_FILE %q is a file in the Secret volume; name the directory %s, so keys can be added (<time>.next.pem) and rotated", keyPath, m.MountPath)
		}
		if m.SubPath != "" || m.SubPathExpr != "" {
			t.Errorf("the Secret is mounted with a subPath: the kubelet never updates those, so rotation would need a restart")
		}
		if len(vol.Secret.Items) != 0 {
			t.Errorf("the Secret volume projects chosen items: a key added to the Secret would not appear")
		}
		if !m.ReadOnly {
			t.Error("the Secret volume mount is not readOnly")
		}
		if vol.Secret.Optional != nil && *vol.Secret.Optional {
			t.Error("the Secret volume is optional: a pod without keys would start and fail")
		}
		mode := vol.Secret.DefaultMode
		if mode == nil {
			t.Fatal("the Secret volume has no defaultMode: the kubelet's 0644 is world-readable, which chattoken refuses")
		}
		if *mode&0o007 != 0 {
			t.Errorf("the Secret volume's defaultMode %#o gives other users access; chattoken refuses world-readable keys", *mode)
		}
		// The files are owned by root and group fsGroup: the service reads
		// them through the group.
		if *mode&0o040 == 0 {
			t.Errorf("defaultMode %#o: the group (fsGroup) cannot read the keys", *mode)
		}
		_, gid := effectiveIDs(pod, c)
		psc := pod.SecurityContext
		if psc == nil || psc.FSGroup == nil || (*psc.FSGroup != gid && !slices.Contains(psc.SupplementalGroups, *psc.FSGroup)) {
			t.Errorf("fsGroup must be set to a group the service runs in (%d), or it cannot read 0440 keys", gid)
		}
		// deploy/kubernetes documents the Secret with an example it never
		// applies; the chart takes the name of an existing one and renders
		// none, so no key passes through values or the release history.
		switch ex, ok := k.secrets[vol.Secret.SecretName]; {
		case k.chart && len(k.secrets) > 0:
			t.Errorf("the chart renders Secret(s) %v: the keys must come from an existing Secret, never from values", sortedKeys(k.secrets))
		case k.chart:
		case !ok:
			t.Errorf("the Secret volume names %q but no example Secret documents it (secret%s)", vol.Secret.SecretName, exampleSuffix)
		default:
			checkSecretExample(t, ex)
		}
	})

	t.Run("context schema from the ConfigMap", func(t *testing.T) {
		p := env["CHATTOKEN_CONTEXT_FILE"]
		if p == "" {
			t.Fatal("the Deployment does not set CHATTOKEN_CONTEXT_FILE: the context schema ConfigMap it ships (configmap-context.yaml) goes unused")
		}
		m := mountOf(c, p)
		if m == nil {
			t.Fatalf("CHATTOKEN_CONTEXT_FILE %q is not inside any volume mount", p)
		}
		vol := volumeNamed(t, k, m.Name)
		if vol.ConfigMap == nil {
			t.Fatalf("CHATTOKEN_CONTEXT_FILE %q is in volume %s, which is not a ConfigMap", p, m.Name)
		}
		cm := k.configMaps[vol.ConfigMap.Name]
		if cm == nil {
			t.Fatalf("volume %s names ConfigMap %q, which %s does not define", m.Name, vol.ConfigMap.Name, k.name)
		}
		rel, _ := filepath.Rel(m.MountPath, p)
		key := rel
		if len(vol.ConfigMap.Items) > 0 {
			key = ""
			for _, it := range vol.ConfigMap.Items {
				if it.Path == rel {
					key = it.Key
				}
			}
		}
		if _, ok := cm.Data[key]; !ok {
			t.Errorf("CHATTOKEN_CONTEXT_FILE %q is %s in ConfigMap %s, which has no such key", p, rel, cm.Name)
		}
	})

	t.Run("variables", func(t *testing.T) {
		known := knownVariables()
		for name, from := range sources {
			checkVariable(t, known, strings.Join(from, " and "), name)
			if len(from) > 1 {
				t.Errorf("%s is set twice (%s): the env entry silently wins", name, strings.Join(from, ", "))
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom == nil && e.Value == "" {
				t.Errorf("%s is empty, which means its default: leave it out", e.Name)
			}
		}
		// A Service named chattoken would put CHATTOKEN_SERVICE_HOST,
		// CHATTOKEN_PORT, ... into the environment.
		if pod.EnableServiceLinks == nil || *pod.EnableServiceLinks {
			t.Error("enableServiceLinks is not false: Service environment variables would land in chattoken's CHATTOKEN_ namespace")
		}
		for _, required := range []string{"CHATTOKEN_ISSUER", "CHATTOKEN_SIGNING_KEY_FILE"} {
			if env[required] == "" {
				t.Errorf("%s is not set", required)
			}
		}
	})
}

func checkSecretExample(t *testing.T, s *corev1.Secret) {
	t.Helper()
	for name, v := range s.StringData {
		checkNotAKey(t, name, []byte(v))
	}
	for name, v := range s.Data {
		checkNotAKey(t, name, v)
	}
	raw, err := os.ReadFile(filepath.Join(kubeDir, "secret"+exampleSuffix))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "-----BEGIN") {
		t.Error("secret.example.yaml contains a PEM block: never commit a key")
	}
}

func checkNotAKey(t *testing.T, name string, v []byte) {
	t.Helper()
	if strings.HasSuffix(name, ".pem") || strings.Contains(string(v), "PRIVATE KEY") {
		t.Errorf("the example Secret's item %s looks like a key: it must hold none", name)
	}
}

func TestServiceAutoscalerDisruptionBudgetNetworkPolicy(t *testing.T) {
	forEachSource(t, testServiceAutoscalerDisruptionBudgetNetworkPolicy)
}

func testServiceAutoscalerDisruptionBudgetNetworkPolicy(t *testing.T, k *kube) {
	d := k.deployment
	podLabels := d.Spec.Template.Labels
	c := k.container(t)

	t.Run("Service", func(t *testing.T) {
		s := k.service
		if s.Spec.Type != "" && s.Spec.Type != corev1.ServiceTypeClusterIP {
			t.Errorf("Service type %s; ClusterIP, with the ingress controller in front", s.Spec.Type)
		}
		if len(s.Spec.Selector) == 0 || !labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(podLabels)) {
			t.Errorf("Service selector %v does not select the pods %v", s.Spec.Selector, podLabels)
		}
		var sawHTTP bool
		for _, p := range s.Spec.Ports {
			target := p.TargetPort
			if target.Type == intstr.Int && target.IntVal == 0 {
				target = intstr.FromInt32(p.Port)
			}
			if resolvePort(c, target) == 0 {
				t.Errorf("Service port %s targets %s, which is no container port", p.Name, target.String())
			}
			if resolvePort(c, target) == containerPort(t, c, "http") && p.Port == 80 {
				sawHTTP = true
			}
		}
		if !sawHTTP {
			t.Error("the Service has no port 80 to the http container port")
		}
	})

	t.Run("HorizontalPodAutoscaler", func(t *testing.T) {
		h := k.hpa
		ref := h.Spec.ScaleTargetRef
		if ref.Kind != "Deployment" || ref.Name != d.Name || ref.APIVersion != "apps/v1" {
			t.Errorf("scaleTargetRef %+v is not the Deployment %s", ref, d.Name)
		}
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 || h.Spec.MaxReplicas < *h.Spec.MinReplicas {
			t.Errorf("minReplicas %v maxReplicas %d: at least 2, max above min", h.Spec.MinReplicas, h.Spec.MaxReplicas)
		}
		cpu := false
		for _, m := range h.Spec.Metrics {
			if m.Resource != nil && m.Resource.Name == corev1.ResourceCPU && m.Resource.Target.AverageUtilization != nil {
				cpu = true
			}
		}
		if !cpu {
			t.Error("no CPU utilization metric")
		}
		if req := c.Resources.Requests[corev1.ResourceCPU]; req.IsZero() {
			t.Error("CPU utilization needs the container's CPU request")
		}
	})

	t.Run("PodDisruptionBudget", func(t *testing.T) {
		p := k.pdb
		if !selects(p.Spec.Selector, podLabels) {
			t.Errorf("selector %v does not select the pods %v", p.Spec.Selector, podLabels)
		}
		switch {
		case p.Spec.MaxUnavailable != nil && p.Spec.MinAvailable == nil:
			if p.Spec.MaxUnavailable.Type != intstr.Int || p.Spec.MaxUnavailable.IntVal != 1 {
				t.Errorf("maxUnavailable %s; want 1", p.Spec.MaxUnavailable.String())
			}
		case p.Spec.MinAvailable != nil && p.Spec.MaxUnavailable == nil:
			if p.Spec.MinAvailable.Type != intstr.Int || p.Spec.MinAvailable.IntVal != 1 {
				t.Errorf("minAvailable %s; want 1 (more would block node drains at 2 replicas)", p.Spec.MinAvailable.String())
			}
		default:
			t.Error("set exactly one of minAvailable and maxUnavailable")
		}
	})

	t.Run("NetworkPolicy", func(t *testing.T) {
		n := k.netpol
		if !selects(&n.Spec.PodSelector, podLabels) || len(n.Spec.PodSelector.MatchLabels)+len(n.Spec.PodSelector.MatchExpressions) == 0 {
			t.Errorf("podSelector %v does not select only the chattoken pods %v", n.Spec.PodSelector, podLabels)
		}
		types := fmt.Sprint(n.Spec.PolicyTypes)
		if !strings.Contains(types, "Ingress") || !strings.Contains(types, "Egress") {
			t.Errorf("policyTypes %s; want Ingress and Egress", types)
		}
		admitted := map[int32]bool{}
		for _, rule := range n.Spec.Ingress {
			if len(rule.From) == 0 {
				t.Error("an ingress rule admits every peer")
			}
			for _, p := range rule.Ports {
				if p.Port == nil {
					t.Error("an ingress rule admits every port")
					continue
				}
				port := resolvePort(c, *p.Port)
				if port == 0 {
					t.Errorf("ingress port %s is no container port", p.Port.String())
				}
				admitted[port] = true
			}
		}
		for _, name := range []string{"http", "metrics"} {
			if !admitted[containerPort(t, c, name)] {
				t.Errorf("no ingress rule admits the %s port", name)
			}
		}
		dns := false
		for _, rule := range n.Spec.Egress {
			for _, p := range rule.Ports {
				if p.Port != nil && p.Port.IntValue() == 53 && p.Protocol != nil && *p.Protocol == corev1.ProtocolUDP {
					dns = true
				}
			}
		}
		if !dns {
			t.Error("egress does not allow DNS (UDP 53): the session upstream's name would not resolve")
		}
	})

	if sm := k.serviceMonitor; sm != nil {
		t.Run("ServiceMonitor", func(t *testing.T) {
			if !selects(&sm.Spec.Selector, k.service.Labels) {
				t.Errorf("selector %v does not select the Service's labels %v", sm.Spec.Selector, k.service.Labels)
			}
			if len(sm.Spec.Endpoints) == 0 {
				t.Fatal("no endpoints: nothing is scraped")
			}
			metricsPort := containerPort(t, c, "metrics")
			for _, e := range sm.Spec.Endpoints {
				var port *corev1.ServicePort
				for i := range k.service.Spec.Ports {
					if k.service.Spec.Ports[i].Name == e.Port {
						port = &k.service.Spec.Ports[i]
					}
				}
				if port == nil {
					t.Errorf("endpoint port %q is no port of the Service", e.Port)
				} else if resolvePort(c, port.TargetPort) != metricsPort {
					t.Errorf("endpoint port %q targets %s, not the metrics container port %d", e.Port, port.TargetPort.String(), metricsPort)
				}
				interval, err1 := time.ParseDuration(cmp.Or(e.Interval, "30s"))
				timeout, err2 := time.ParseDuration(cmp.Or(e.ScrapeTimeout, "10s"))
				if err1 != nil || err2 != nil || timeout > interval {
					t.Errorf("interval %q, scrapeTimeout %q: durations, the timeout no longer than the interval", e.Interval, e.ScrapeTimeout)
				}
			}
		})
	}
}

// TestManifestsRunOnTheRealBinary starts chattoken with the Deployment's
// configuration (the ConfigMap's variables and the env entries) and its
// volumes laid out as the kubelet does, and checks that the probes' paths are
// real routes, that it mints with the Secret's key directory, and that the
// context schema of the ConfigMap is the one in force. Host paths stand in
// for the container's; container_test.go runs the same in a real read-only
// root as uid 65532.
func TestManifestsRunOnTheRealBinary(t *testing.T) {
	forEachSource(t, testManifestsRunOnTheRealBinary)
}

func testManifestsRunOnTheRealBinary(t *testing.T, k *kube) {
	root := t.TempDir()
	keys := writePodVolumes(t, k, root, false)
	env, _ := k.env(t)
	c := k.container(t)
	for name, v := range env {
		if mountOf(c, v) != nil {
			env[name] = filepath.Join(root, v)
		}
	}
	upstream, subject := newUpstream(t, env)
	env["CHATTOKEN_INTROSPECT_URL"] = upstream.URL + "/api/me"
	env["CHATTOKEN_ADDR"] = "127.0.0.1:0"
	delete(env, "CHATTOKEN_REDIS_URL") // no Redis here
	metricsAddr := ""
	if knownVariables()["CHATTOKEN_METRICS_ADDR"] {
		metricsAddr = freeAddr(t)
		env["CHATTOKEN_METRICS_ADDR"] = metricsAddr
	} else {
		delete(env, "CHATTOKEN_METRICS_ADDR")
	}
	svc := harness.Start(t, env, c.Args...)
	checkService(t, k, svc.URL, env, "", keys, subject)

	// The metrics listener, once chattoken has one: the paths the pod
	// annotations and the ServiceMonitor give Prometheus answer on the
	// metrics port.
	if metricsAddr == "" {
		t.Log("CHATTOKEN_METRICS_ADDR is not in config.Config yet: the metrics route is not checked")
		return
	}
	metricsPath := k.deployment.Spec.Template.Annotations["prometheus.io/path"]
	if metricsPath == "" {
		metricsPath = "/metrics"
	}
	paths := []string{metricsPath}
	if sm := k.serviceMonitor; sm != nil {
		for _, e := range sm.Spec.Endpoints {
			paths = append(paths, cmp.Or(e.Path, "/metrics"))
		}
	}
	deadline := time.Now().Add(3 * time.Second)
	for _, p := range paths {
		for {
			resp, err := http.Get("http://" + metricsAddr + p)
			if err == nil {
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("GET %s on the metrics listener answers %d", p, resp.StatusCode)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the metrics listener %s does not answer: %v", metricsAddr, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// probePaths are the paths of the chattoken container's httpGet probes.
func probePaths(t *testing.T, k *kube) []string {
	t.Helper()
	c := k.container(t)
	var paths []string
	for _, p := range []*corev1.Probe{c.StartupProbe, c.ReadinessProbe, c.LivenessProbe} {
		if p != nil && p.HTTPGet != nil {
			paths = append(paths, p.HTTPGet.Path)
		}
	}
	if len(paths) == 0 {
		t.Fatal("the container has no httpGet probe")
	}
	return paths
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// containerPort is the number of the container port called name.
func containerPort(t *testing.T, c *corev1.Container, name string) int32 {
	t.Helper()
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	t.Fatalf("the container has no port named %s", name)
	return 0
}

// resolvePort is the container port a Service target, probe or NetworkPolicy
// port refers to, by name or number; 0 when it is none of them.
func resolvePort(c *corev1.Container, p intstr.IntOrString) int32 {
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && p.StrVal == cp.Name) || (p.Type == intstr.Int && p.IntVal == cp.ContainerPort) {
			return cp.ContainerPort
		}
	}
	return 0
}

// portOfAddr is the port of a listen address, or of def when addr is empty
// (the variable's default).
func portOfAddr(t *testing.T, name, addr, def string) int32 {
	t.Helper()
	if addr == "" {
		addr = def
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%s %q: %v", name, addr, err)
	}
	var n int32
	if _, err := fmt.Sscan(port, &n); err != nil {
		t.Fatalf("%s %q: %v", name, addr, err)
	}
	return n
}

func selects(sel *metav1.LabelSelector, set map[string]string) bool {
	if sel == nil {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && !s.Empty() && s.Matches(labels.Set(set))
}

// effectiveIDs are the uid and gid the container runs as (container settings
// win over the pod's); -1 when unset (the image's USER).
func effectiveIDs(pod corev1.PodSpec, c *corev1.Container) (uid, gid int64) {
	uid, gid = -1, -1
	if psc := pod.SecurityContext; psc != nil {
		if psc.RunAsUser != nil {
			uid = *psc.RunAsUser
		}
		if psc.RunAsGroup != nil {
			gid = *psc.RunAsGroup
		}
	}
	if sc := c.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			uid = *sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			gid = *sc.RunAsGroup
		}
	}
	return uid, gid
}

// imageName is an image reference without its tag or digest.
func imageName(ref string) string {
	if i := strings.Index(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	return ref
}

// checkImage fails for an image that is `latest`, explicitly or by having
// neither a tag nor a digest.
func checkImage(t *testing.T, where, ref string) {
	t.Helper()
	name, digest, hasDigest := strings.Cut(ref, "@")
	tag := ""
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		tag = name[i+1:]
	}
	switch {
	case tag == "latest":
		t.Errorf("%s uses %s: never latest; pin a version (and a digest in production)", where, ref)
	case tag == "" && !hasDigest:
		t.Errorf("%s uses %s, which means latest: pin a version", where, ref)
	case hasDigest && !strings.HasPrefix(digest, "sha256:"):
		t.Errorf("%s: %s is not a sha256 digest", where, ref)
	}
}
