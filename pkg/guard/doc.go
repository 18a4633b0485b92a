// Package guard holds AKS Identity Guard's domain: what a cluster looks like to
// the guard, the verdict rules, findings, remediation jobs, audit entries and
// alerts, the ports (interfaces) the adapters implement, and the service that
// applies the rules.
//
// It imports no Azure SDK. Adapters in sibling packages translate between the
// SDKs and these types; handlers translate between the Functions host and the
// Service.
package guard
