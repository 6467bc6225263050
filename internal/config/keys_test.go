package config

import "testing"

// FuzzSet: any string for any key is set or refused with an error, never
// a panic, and a value Set accepted reads back through Value and Set again.
func FuzzSet(f *testing.F) {
	keys := Keys()
	f.Add(0, "198.18.0.0/15")
	f.Add(1, "90s")
	f.Add(2, "true")
	f.Add(3, "a,b,,c")
	f.Add(4, "-1")
	f.Fuzz(func(t *testing.T, i int, v string) {
		if i < 0 {
			i = -i
		}
		k := keys[i%len(keys)]
		cfg := Default()
		if err := Set(&cfg, k, v); err != nil {
			return
		}
		got, err := Value(&cfg, k)
		if err != nil {
			t.Fatal(err)
		}
		again := Default()
		if err := Set(&again, k, got); err != nil {
			t.Fatalf("%s: Set(%q) accepted, its Value %q refused: %v", k, v, got, err)
		}
		if v2, _ := Value(&again, k); v2 != got {
			t.Fatalf("%s: %q → %q → %q", k, v, got, v2)
		}
	})
}
