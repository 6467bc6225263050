package alert

import "testing"

func validateAlertJSON(t *testing.T, body []byte) { t.Helper() }
