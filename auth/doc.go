// Package auth decides, before a WebSocket upgrade is accepted, whether a
// request may go on and on whose behalf. It turns an upgrade request into an
// [Identity] or into an HTTP-level rejection, and knows nothing about
// WebSockets, bridges or upstreams.
//
// The pieces map onto CONTRACT.md sections 1 and 4:
//
//   - [OriginPolicy] implements GATEWAY_ALLOWED_ORIGINS (403 forbidden_origin).
//   - [Credential] finds the client's credential in the "Authorization: Bearer"
//     header or in the GATEWAY_TOKEN_QUERY_PARAM query parameter, and
//     [StripQueryParam] removes that parameter before the query goes upstream.
//   - A [Verifier] implements GATEWAY_AUTH_MODE: [NoneVerifier] (none),
//     [NewAPIKeyVerifier] (apikey) and [NewJWTVerifier] (jwt). Every refusal
//     wraps [ErrUnauthorized] (401 unauthorized) and never contains the
//     credential or the key material.
//   - [TrustedProxies] implements GATEWAY_TRUSTED_PROXIES: the client address
//     used for limits and logs, and the X-Forwarded-For value sent upstream.
//   - [AddrLimiter] implements GATEWAY_MAX_CONNECTIONS_PER_IP and
//     GATEWAY_CONNECT_RATE (429 rate_limited with Retry-After), and
//     [MessageLimiter] implements GATEWAY_MESSAGE_RATE and
//     GATEWAY_MESSAGE_BURST for one client.
//
// # Concurrency
//
// The package starts no goroutines. [OriginPolicy], [TrustedProxies] and the
// verifiers are immutable after construction and safe for concurrent use.
// [AddrLimiter] and [MessageLimiter] are safe for concurrent use; the
// AddrLimiter expires idle per-address state during [AddrLimiter.Acquire]
// calls, so it needs no background sweeper and no Close.
package auth
