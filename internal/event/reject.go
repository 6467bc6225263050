package event

// Rejection is an error that says a message can never be handled, however
// often it is retried: bad JSON, an unknown schema version, a target outside
// the inside networks. Consumers send such messages to the dead-letter topic
// with Reason in a header and move on; any other error is retried.
type Rejection struct {
	Reason string
}

func (r *Rejection) Error() string { return "rejected: " + r.Reason }

// Reject returns a Rejection with the given reason.
func Reject(reason string) error { return &Rejection{Reason: reason} }
