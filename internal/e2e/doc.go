// Package e2e holds synwatch's end-to-end tests: the real binary, built once,
// run as its users run it (all-in-one `synwatch run`, and `synwatch sensor` +
// `synwatch verifier` over a real Kafka broker and a real redis-server), on
// live traffic between network namespaces, against real nmap scans and a real
// webhook receiver. It has no code outside its tests.
//
// The tests need root (namespaces, capture) and use the lab subnets
// 198.18.7.0/24 (tests) and 198.18.8.0/24 (latency benchmarks).
package e2e
