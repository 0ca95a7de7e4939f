// Package auth guards Vigil's REST API, WebSocket and dashboard with bearer
// tokens and basic-auth users. Authentication is off until a credential is
// configured; once on, every write under /api/ needs a credential, and reads
// and the WebSocket need one too unless ProtectReads is turned off.
//
// Secrets are compared in constant time against every configured secret and
// never appear in logs, errors or a printed Config.
package auth
