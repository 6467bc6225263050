package deploy

import (
	"bytes"
	"errors"
	"io"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const kubeDir = "kubernetes"

type kubeObject struct {
	file string
	doc  map[string]any
}

func (o kubeObject) kind() string { return str(o.doc, "kind") }
func (o kubeObject) name() string { return str(o.doc, "metadata", "name") }

func loadKube(t *testing.T) []kubeObject {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(kubeDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s", kubeDir)
	}
	var objs []kubeObject
	for _, f := range files {
		dec := yaml.NewDecoder(bytes.NewReader(mustRead(t, f)))
		for {
			var doc map[string]any
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if doc != nil {
				objs = append(objs, kubeObject{filepath.Base(f), doc})
			}
		}
	}
	return objs
}

func find(objs []kubeObject, kind, name string) *kubeObject {
	for i := range objs {
		if objs[i].kind() == kind && (name == "" || objs[i].name() == name) {
			return &objs[i]
		}
	}
	return nil
}

func TestKubernetes(t *testing.T) {
	objs := loadKube(t)
	for _, o := range objs {
		if o.kind() == "" || str(o.doc, "apiVersion") == "" {
			t.Errorf("%s: a document without kind or apiVersion", o.file)
		}
		if ns := str(o.doc, "metadata", "namespace"); ns != "" && ns != "synwatch" {
			t.Errorf("%s %s: namespace %s", o.file, o.name(), ns)
		}
	}

	// kustomization.yaml applies every manifest except the examples.
	kust := find(objs, "Kustomization", "")
	if kust == nil {
		t.Fatal("no kustomization.yaml")
	}
	var want []string
	for _, o := range objs {
		if o.file != "kustomization.yaml" && !strings.Contains(o.file, ".example.") && !slices.Contains(want, o.file) {
			want = append(want, o.file)
		}
	}
	got := strs(kust.doc, "resources")
	sort.Strings(want)
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("kustomization resources %v, want %v", got, want)
	}

	cm := find(objs, "ConfigMap", "synwatch-config")
	if cm == nil {
		t.Fatal("no ConfigMap synwatch-config")
	}
	secret := find(objs, "Secret", "synwatch-secrets")
	if secret == nil {
		t.Fatal("no example Secret synwatch-secrets")
	}
	cmds := commands(t)

	workloads := map[string]string{"DaemonSet": "sensor", "Deployment": "verifier"}
	found := 0
	for _, o := range objs {
		role, ok := workloads[o.kind()]
		if !ok {
			continue
		}
		found++
		t.Run(o.kind()+"/"+o.name(), func(t *testing.T) {
			checkWorkload(t, o, role, cm, secret, cmds, objs)
		})
	}
	if found != 2 {
		t.Errorf("want a sensor DaemonSet and a verifier Deployment, found %d workloads", found)
	}
	if _, err := exec.LookPath("kubectl"); err == nil {
		// Optional extra: kustomize renders the set (kubectl is not required).
		if out, err := exec.Command("kubectl", "kustomize", kubeDir).CombinedOutput(); err != nil {
			t.Errorf("kubectl kustomize %s: %v\n%s", kubeDir, err, out)
		}
	}
}

func checkWorkload(t *testing.T, o kubeObject, role string, cm, secret *kubeObject, cmds map[string]bool, objs []kubeObject) {
	where := o.file
	pod := get(o.doc, "spec", "template", "spec")
	checkPodFields(t, where, pod)
	labels := asMap(get(o.doc, "spec", "template", "metadata", "labels"))
	sel := asMap(get(o.doc, "spec", "selector", "matchLabels"))
	for k, v := range sel {
		if labels[k] != v {
			t.Errorf("%s: selector %s=%v does not match the template labels", where, k, v)
		}
	}
	if str(pod, "automountServiceAccountToken") != "false" {
		t.Errorf("%s: automountServiceAccountToken must be false", where)
	}
	if str(pod, "securityContext", "runAsNonRoot") != "true" {
		t.Errorf("%s: pod securityContext.runAsNonRoot must be true", where)
	}
	if uid := str(pod, "securityContext", "runAsUser"); uid == "" || uid == "0" {
		t.Errorf("%s: runAsUser %q, want the image's user 10001", where, uid)
	}
	hostNet := str(pod, "hostNetwork") == "true"
	if role == "sensor" {
		if !hostNet {
			t.Errorf("%s: the sensor needs hostNetwork: true", where)
		}
		if str(pod, "nodeSelector", "synwatch.io/tap") != "true" {
			t.Errorf("%s: nodeSelector synwatch.io/tap: \"true\" missing", where)
		}
	}
	volumes := map[string]any{}
	for _, v := range list(pod, "volumes") {
		volumes[str(v, "name")] = v
	}
	containers := list(pod, "containers")
	if len(containers) != 1 {
		t.Fatalf("%s: want one container, got %d", where, len(containers))
	}
	c := containers[0]
	image := str(c, "image")
	target := strings.TrimPrefix(strings.Split(image, ":")[0], "synwatch-")
	if target != role {
		t.Errorf("%s: image %s, want the synwatch-%s image", where, image, role)
	}
	ep, defCmd, imgEnv := imageTarget(t, target)
	args := strs(c, "args")
	if cmd := strs(c, "command"); cmd != nil {
		if len(cmd) == 0 || path.Base(cmd[0]) != "synwatch" {
			t.Fatalf("%s: command %v does not run synwatch", where, cmd)
		}
		args = append(cmd[1:], args...)
	} else if len(ep) != 1 || path.Base(ep[0]) != "synwatch" {
		t.Fatalf("%s: image entrypoint %v", where, ep)
	}
	if args == nil {
		args = defCmd
	}
	if len(args) == 0 || args[0] != role {
		t.Errorf("%s: runs synwatch %v, want synwatch %s", where, args, role)
	}
	cfgPath := checkInvocation(t, cmds, invocation{where + " args", args})

	// --config is the ConfigMap's key, mounted with subPath.
	mounts := list(c, "volumeMounts")
	var cfgData string
	for _, m := range mounts {
		if str(m, "mountPath") != cfgPath {
			continue
		}
		v := volumes[str(m, "name")]
		if str(v, "configMap", "name") != cm.name() {
			t.Errorf("%s: %s is not from ConfigMap %s", where, cfgPath, cm.name())
		}
		cfgData = str(cm.doc, "data", str(m, "subPath"))
	}
	if cfgData == "" {
		t.Fatalf("%s: --config %q is no ConfigMap key mounted with subPath", where, cfgPath)
	}
	cfg := loadConfig(t, "ConfigMap "+cm.name(), []byte(cfgData))

	env := map[string]string{}
	for k, v := range imgEnv {
		env[k] = v
	}
	for _, e := range list(c, "env") {
		name, val := str(e, "name"), str(e, "value")
		if get(e, "valueFrom") != nil {
			val = "${from the cluster}"
		}
		env[name] = val
		checkEnv(t, where+" env", name, val, envRefs(cfg))
	}
	cfg = applyEnv(t, where, cfg, env)

	// Every file the role reads comes from a mounted Secret key that the
	// example Secret has.
	secretKeys := asMap(get(secret.doc, "stringData"))
	for key, file := range forRole(tagged(cfg, "_file"), role) {
		ok := false
		for _, m := range mounts {
			mp := str(m, "mountPath")
			v := volumes[str(m, "name")]
			if str(v, "secret", "secretName") != secret.name() || path.Dir(file) != mp {
				continue
			}
			base := path.Base(file)
			items := list(v, "secret", "items")
			if items == nil && secretKeys[base] != nil {
				ok = true
			}
			for _, it := range items {
				if str(it, "path") == base && secretKeys[str(it, "key")] != nil {
					ok = true
				}
			}
		}
		if !ok {
			t.Errorf("%s: %s: %s is not a key of Secret %s mounted in the %s", where, key, file, secret.name(), role)
		}
	}

	// The sensor's spool lies on a writable volume (the root is read-only).
	if role == "sensor" {
		spool, ok := cfg.Kafka.Spool.Dir, false
		for _, m := range mounts {
			v := volumes[str(m, "name")]
			writable := get(v, "emptyDir") != nil || get(v, "persistentVolumeClaim") != nil || get(v, "hostPath") != nil
			if under(spool, str(m, "mountPath")) && writable && str(m, "readOnly") != "true" {
				ok = true
			}
		}
		if spool == "" || !ok {
			t.Errorf("%s: kafka.spool.dir %q is not on a writable volume", where, spool)
		}
	}

	// Ports: the container port "metrics" is the listen port; probes and
	// annotations use it.
	port := listenPort(t, where, cfg)
	var metricsPort string
	for _, p := range list(c, "ports") {
		if str(p, "name") == "metrics" {
			metricsPort = str(p, "containerPort")
			if hostNet && str(p, "hostPort") != metricsPort {
				t.Errorf("%s: on the host network hostPort must equal containerPort", where)
			}
		}
	}
	if port == "" || metricsPort != port {
		t.Errorf("%s: container port metrics %q, observability.listen port %q", where, metricsPort, port)
	}
	if a := str(o.doc, "spec", "template", "metadata", "annotations", "prometheus.io/port"); a != port {
		t.Errorf("%s: annotation prometheus.io/port %q, listen port %q", where, a, port)
	}
	for probe, p := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
		if got := str(c, probe, "httpGet", "path"); got != p {
			t.Errorf("%s: %s path %q, want %s", where, probe, got, p)
		}
		if pp := str(c, probe, "httpGet", "port"); pp != "metrics" && pp != port {
			t.Errorf("%s: %s port %q, want metrics (%s)", where, probe, pp, port)
		}
		if to, _ := strconv.Atoi(str(c, probe, "timeoutSeconds")); to < 3 {
			t.Errorf("%s: %s timeoutSeconds %d: readiness checks may take 2s (obs.CheckTimeout)", where, probe, to)
		}
	}

	// Privileges: no root, everything dropped, NET_RAW at most.
	sc := get(c, "securityContext")
	if !slices.Equal(strs(sc, "capabilities", "drop"), []string{"ALL"}) {
		t.Errorf("%s: capabilities.drop %v, want [ALL]", where, strs(sc, "capabilities", "drop"))
	}
	add := strs(sc, "capabilities", "add")
	for _, a := range add {
		if a != "NET_RAW" {
			t.Errorf("%s: capabilities.add %s: synwatch needs NET_RAW at most", where, a)
		}
	}
	if role == "sensor" && !slices.Equal(add, []string{"NET_RAW"}) {
		t.Errorf("%s: the sensor needs capabilities.add [NET_RAW]", where)
	}
	if len(add) > 0 && str(sc, "allowPrivilegeEscalation") == "false" {
		t.Errorf("%s: allowPrivilegeEscalation: false voids the image's file capability %v", where, add)
	}
	if str(sc, "privileged") == "true" || str(sc, "readOnlyRootFilesystem") != "true" {
		t.Errorf("%s: want privileged: false and readOnlyRootFilesystem: true", where)
	}

	// The metrics Service selects these pods on their port name.
	svcFound := false
	for _, s := range objs {
		if s.kind() != "Service" {
			continue
		}
		ssel := asMap(get(s.doc, "spec", "selector"))
		match := len(ssel) > 0
		for k, v := range ssel {
			if labels[k] != v {
				match = false
			}
		}
		if !match {
			continue
		}
		svcFound = true
		for _, p := range list(s.doc, "spec", "ports") {
			if tp := str(p, "targetPort"); tp != "metrics" && tp != port {
				t.Errorf("Service %s: targetPort %q is not the metrics port", s.name(), tp)
			}
			if str(p, "port") != port {
				t.Errorf("Service %s: port %s, listen port %s", s.name(), str(p, "port"), port)
			}
		}
		if a := str(s.doc, "metadata", "annotations", "prometheus.io/port"); a != "" && a != port {
			t.Errorf("Service %s: prometheus.io/port %s, listen port %s", s.name(), a, port)
		}
	}
	if !svcFound {
		t.Errorf("%s: no Service selects these pods for metrics", where)
	}
}

// Field names of the Kubernetes types the workloads use (core/v1), so that a
// misspelt field, which the API server would drop or refuse, fails here.
var kubeFields = map[string][]string{
	"PodSpec": {"volumes", "initContainers", "containers", "ephemeralContainers", "restartPolicy",
		"terminationGracePeriodSeconds", "activeDeadlineSeconds", "dnsPolicy", "nodeSelector",
		"serviceAccountName", "serviceAccount", "automountServiceAccountToken", "nodeName", "hostNetwork",
		"hostPID", "hostIPC", "shareProcessNamespace", "securityContext", "imagePullSecrets", "hostname",
		"subdomain", "affinity", "schedulerName", "tolerations", "hostAliases", "priorityClassName", "priority",
		"dnsConfig", "readinessGates", "runtimeClassName", "enableServiceLinks", "preemptionPolicy", "overhead",
		"topologySpreadConstraints", "setHostnameAsFQDN", "os", "hostUsers", "schedulingGates", "resourceClaims"},
	"Container": {"name", "image", "command", "args", "workingDir", "ports", "envFrom", "env", "resources",
		"resizePolicy", "restartPolicy", "volumeMounts", "volumeDevices", "livenessProbe", "readinessProbe",
		"startupProbe", "lifecycle", "terminationMessagePath", "terminationMessagePolicy", "imagePullPolicy",
		"securityContext", "stdin", "stdinOnce", "tty"},
	"SecurityContext": {"capabilities", "privileged", "seLinuxOptions", "windowsOptions", "runAsUser",
		"runAsGroup", "runAsNonRoot", "readOnlyRootFilesystem", "allowPrivilegeEscalation", "procMount",
		"seccompProfile", "appArmorProfile"},
	"PodSecurityContext": {"seLinuxOptions", "windowsOptions", "runAsUser", "runAsGroup", "runAsNonRoot",
		"supplementalGroups", "supplementalGroupsPolicy", "fsGroup", "sysctls", "fsGroupChangePolicy",
		"seccompProfile", "appArmorProfile", "seLinuxChangePolicy"},
	"Capabilities":  {"add", "drop"},
	"Probe":         {"exec", "httpGet", "tcpSocket", "grpc", "initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold", "terminationGracePeriodSeconds"},
	"VolumeMount":   {"name", "readOnly", "recursiveReadOnly", "mountPath", "subPath", "mountPropagation", "subPathExpr"},
	"ContainerPort": {"name", "hostPort", "containerPort", "protocol", "hostIP"},
	"EnvVar":        {"name", "value", "valueFrom"},
}

func checkFields(t *testing.T, where, typ string, v any) {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		if v != nil {
			t.Errorf("%s: %s is not a mapping", where, typ)
		}
		return
	}
	for k := range m {
		if !slices.Contains(kubeFields[typ], k) {
			t.Errorf("%s: unknown %s field %q", where, typ, k)
		}
	}
}

// checkPodFields checks the field names of a pod template, recursively where
// synwatch's settings live.
func checkPodFields(t *testing.T, where string, pod any) {
	t.Helper()
	checkFields(t, where+" spec", "PodSpec", pod)
	checkFields(t, where+" securityContext", "PodSecurityContext", get(pod, "securityContext"))
	for _, c := range list(pod, "containers") {
		w := where + " container " + str(c, "name")
		checkFields(t, w, "Container", c)
		checkFields(t, w+" securityContext", "SecurityContext", get(c, "securityContext"))
		checkFields(t, w+" capabilities", "Capabilities", get(c, "securityContext", "capabilities"))
		for _, p := range []string{"livenessProbe", "readinessProbe", "startupProbe"} {
			checkFields(t, w+" "+p, "Probe", get(c, p))
		}
		for _, vm := range list(c, "volumeMounts") {
			checkFields(t, w+" volumeMount", "VolumeMount", vm)
		}
		for _, p := range list(c, "ports") {
			checkFields(t, w+" port", "ContainerPort", p)
		}
		for _, e := range list(c, "env") {
			checkFields(t, w+" env", "EnvVar", e)
		}
	}
}
