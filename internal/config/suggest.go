package config

import (
	"reflect"
	"strings"
)

// suggest returns the known key of the config type typeName (as yaml.v3
// names it, "config.Sensor") closest to the unknown key name, or "" when
// none is close: a typo gets "did you mean snaplen?", a foreign key nothing.
func suggest(typeName, name string) string {
	t := typeNamed(reflect.TypeOf(Config{}), typeName, map[reflect.Type]bool{})
	if t == nil {
		return ""
	}
	best, bestD := "", len(name)/3+2 // allow about one edit per three letters
	for _, k := range yamlKeys(t) {
		if d := editDistance(strings.ToLower(name), k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// typeNamed finds the struct type called name ("config.X") reachable from t.
func typeNamed(t reflect.Type, name string, seen map[reflect.Type]bool) reflect.Type {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || seen[t] {
		return nil
	}
	seen[t] = true
	if t.String() == name {
		return t
	}
	for i := 0; i < t.NumField(); i++ {
		if f := typeNamed(t.Field(i).Type, name, seen); f != nil {
			return f
		}
	}
	return nil
}

// yamlKeys lists the YAML keys of struct type t, inline fields included.
func yamlKeys(t reflect.Type) []string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag := strings.Split(sf.Tag.Get("yaml"), ",")
		switch {
		case len(tag) > 1 && tag[1] == "inline":
			keys = append(keys, yamlKeys(sf.Type)...)
		case tag[0] != "" && tag[0] != "-":
			keys = append(keys, tag[0])
		}
	}
	return keys
}

// editDistance is the Levenshtein distance of a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
