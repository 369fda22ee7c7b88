package auth

import (
	"net/http"
	"net/url"
	"strings"
)

// QueryParamNone is the GATEWAY_TOKEN_QUERY_PARAM value that turns query
// credentials off; only the Authorization header is then read.
const QueryParamNone = "none"

// bearerScheme is the RFC 6750 §2.1 authentication scheme, matched
// case-insensitively as RFC 9110 §11.1 requires.
const bearerScheme = "bearer"

// Credential returns the client's credential and whether it came from the
// query string. "Authorization: Bearer X" wins; otherwise the query
// parameter queryParam is used, unless queryParam is "" or [QueryParamNone].
// An Authorization header with another scheme (Basic, …) or an empty bearer
// token is not a credential for the gateway and is ignored. The result is ""
// when the request carries no credential.
func Credential(r *http.Request, queryParam string) (token string, fromQuery bool) {
	for _, v := range r.Header.Values("Authorization") {
		if t, ok := bearerToken(v); ok {
			return t, false
		}
	}
	if !queryParamEnabled(queryParam) || r.URL == nil {
		return "", false
	}
	if t := r.URL.Query().Get(queryParam); t != "" {
		return t, true
	}
	return "", false
}

// bearerToken extracts the token of one "Bearer <token>" header value.
func bearerToken(v string) (string, bool) {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !strings.EqualFold(scheme, bearerScheme) {
		return "", false
	}
	t := strings.TrimSpace(rest)
	return t, t != ""
}

// StripQueryParam removes the credential parameter param from q, so that the
// query sent upstream never carries it (CONTRACT §1). It does nothing when
// param is "" or [QueryParamNone].
func StripQueryParam(q url.Values, param string) {
	if queryParamEnabled(param) {
		q.Del(param)
	}
}

func queryParamEnabled(param string) bool {
	return param != "" && param != QueryParamNone
}
