package deploy

import (
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/synwatch/synwatch/internal/config"
)

const examplePath = "../configs/synwatch.example.yaml"

// The example parses strictly, validates, and `synwatch config check` agrees.
func TestExampleConfigParses(t *testing.T) {
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	var root yaml.Node
	if err := config.Parse(data, &cfg, &root); err != nil {
		t.Fatalf("%s: %v", examplePath, err)
	}
	if err := config.Validate(&cfg, &root); err != nil {
		t.Fatalf("%s: %v", examplePath, err)
	}
	configCheck(t, examplePath)
}

// Every key of config.Config appears in the example, so a field added
// without documentation fails here.
func TestExampleConfigCoversEveryKey(t *testing.T) {
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	yamlKeys(root.Content[0], "", have)
	var missing []string
	for _, k := range structKeys(reflect.TypeOf(config.Config{}), "") {
		if !have[k] {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%s does not document these keys of config.Config (add each with its default and a comment):\n  %s",
			examplePath, strings.Join(missing, "\n  "))
	}
	// And nothing in the example that the struct lacks (Parse would already
	// refuse it; this names the key).
	known := map[string]bool{}
	for _, k := range structKeys(reflect.TypeOf(config.Config{}), "") {
		known[k] = true
	}
	maps := mapKeys(reflect.TypeOf(config.Config{}), "")
	for k := range have {
		if !known[k] && !underMap(k, maps) {
			t.Errorf("%s: key %s is not in config.Config", examplePath, k)
		}
	}
}

// The example shows the defaults: where it sets a key that has a default, it
// sets the default, so the comments and values tell the truth. Keys set to
// illustrate (networks, brokers, sinks) are listed here.
func TestExampleConfigShowsDefaults(t *testing.T) {
	illustrative := map[string]bool{
		"inside": true, "exclude": true, "kafka.brokers": true,
	}
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	var cfg config.Config // zero: what the file says, nothing else
	if err := config.Parse(data, &cfg, nil); err != nil {
		t.Fatal(err)
	}
	def := config.Default()
	compareLeaves(t, "", reflect.ValueOf(def), reflect.ValueOf(cfg), illustrative)
}

func compareLeaves(t *testing.T, path string, def, ex reflect.Value, skip map[string]bool) {
	t.Helper()
	if skip[path] {
		return
	}
	switch def.Kind() {
	case reflect.Struct:
		if def.Type() == reflect.TypeOf(time.Time{}) {
			break
		}
		for i := 0; i < def.NumField(); i++ {
			name := yamlName(def.Type().Field(i))
			if name == "" {
				continue
			}
			p := name
			if name == "," { // inline
				p = path
			} else if path != "" {
				p = path + "." + name
			}
			compareLeaves(t, p, def.Field(i), ex.Field(i), skip)
		}
		return
	case reflect.Pointer, reflect.Map:
		return // optional sections (sinks) are illustrations
	case reflect.Slice:
		if def.Len() == 0 {
			return // no default: the example may illustrate
		}
	}
	if !reflect.DeepEqual(def.Interface(), ex.Interface()) {
		t.Errorf("%s: example says %v, the default is %v", path, ex.Interface(), def.Interface())
	}
}

// structKeys lists the dotted YAML keys of t: leaves and sections; list items
// as "key[]", map contents not descended.
func structKeys(t reflect.Type, prefix string) []string {
	var out []string
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := yamlName(f)
		if name == "" {
			continue
		}
		if name == "," {
			out = append(out, structKeys(f.Type, prefix)...)
			continue
		}
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		out = append(out, key)
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Struct && ft != reflect.TypeOf(time.Time{}):
			out = append(out, structKeys(ft, key)...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			out = append(out, structKeys(ft.Elem(), key+"[]")...)
		}
	}
	sort.Strings(out)
	return out
}

// yamlName is the key of a field, "," for an inline one, "" for none.
func yamlName(f reflect.StructField) string {
	tag := f.Tag.Get("yaml")
	parts := strings.Split(tag, ",")
	if len(parts) > 1 && parts[1] == "inline" {
		return ","
	}
	if parts[0] == "-" || !f.IsExported() {
		return ""
	}
	if parts[0] == "" {
		return strings.ToLower(f.Name)
	}
	return parts[0]
}

// yamlKeys collects the dotted keys of a YAML document, list items as "key[]".
func yamlKeys(n *yaml.Node, prefix string, out map[string]bool) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			if prefix != "" {
				key = prefix + "." + key
			}
			out[key] = true
			yamlKeys(n.Content[i+1], key, out)
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			yamlKeys(c, prefix+"[]", out)
		}
	}
}

// underMap: k lies inside a map-typed key (e.g. a webhook's headers).
func underMap(k string, maps map[string]bool) bool {
	for m := range maps {
		if strings.HasPrefix(k, m+".") {
			return true
		}
	}
	return false
}

// mapKeys lists the dotted keys of map-typed fields.
func mapKeys(t reflect.Type, prefix string) map[string]bool {
	out := map[string]bool{}
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			if t.Kind() == reflect.Slice {
				prefix += "[]"
			}
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t == reflect.TypeOf(time.Time{}) {
			return
		}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := yamlName(f)
			switch {
			case name == "":
			case name == ",":
				walk(f.Type, prefix)
			default:
				key := name
				if prefix != "" {
					key = prefix + "." + name
				}
				if f.Type.Kind() == reflect.Map {
					out[key] = true
				} else {
					walk(f.Type, key)
				}
			}
		}
	}
	walk(t, prefix)
	return out
}
