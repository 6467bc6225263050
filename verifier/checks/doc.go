// Package checks hands exposed services to deeper scanners once it is safe
// to: nmap scripts or another scanner per profile (config checks:), safe
// profiles at once after a verification, intrusive ones only after a
// person's approval, recorded with who and why, that expires. A rejection
// stands for the service version it was given for.
//
// Check records live in the store's document collection "checks", findings
// in "findings" (one document per service), so every verifier, the CLI and
// the console share them. The console's approvals queue uses Queue: List,
// Approve and Reject, the same calls as `synwatch checks`:
//
//	q := checks.NewQueue(store, cfg.Checks.ApprovalTTL, audit)
//	pending, err := q.List(ctx, checks.Pending)
//	k, err := q.Approve(ctx, id, user, reason)
//
// Nothing starts a process except Checker.run, behind one gate
// (Check.MayRun: safe, or an approval in force) and the scope check (the
// service inside the networks recorded on the check and configured here).
package checks
